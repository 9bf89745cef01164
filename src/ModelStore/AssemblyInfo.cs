namespace Serverless.ModelStore;
