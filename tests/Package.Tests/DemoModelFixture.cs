using Serverless.Inference.Chat;
using Serverless.Inference.Model;

namespace Serverless.Inference.PackageTests;

/// <summary>models/demo loaded once, through the client that loads a folder (and so owns the model).</summary>
public sealed class DemoModelFixture : IDisposable
{
    public DemoModelFixture() => Client = new T5ChatClient(PackageFiles.DemoModel);

    public T5ChatClient Client { get; }

    public T5Model Model => Client.Model;

    public void Dispose() => Client.Dispose();
}

/// <summary>The tests that share <see cref="DemoModelFixture"/>.</summary>
[CollectionDefinition(Name)]
public sealed class DemoModelCollection : ICollectionFixture<DemoModelFixture>
{
    public const string Name = "demo model";
}
