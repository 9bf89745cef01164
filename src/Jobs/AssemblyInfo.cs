namespace Serverless.Jobs;
