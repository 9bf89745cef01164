namespace Serverless.Jobs.Tests.Infrastructure;

internal static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    /// <summary>The committed tiny random-weight model (d_model 64, n_positions 512): real ONNX files, fast to load.</summary>
    public static string TinyModel => Path.Combine(Root, "models", "demo");

    /// <summary>The tiny model exported with a decoder self-attention mask, so rows can join a running batch (see the csproj).</summary>
    public static string JoinableTinyModel => Path.Combine(AppContext.BaseDirectory, "Models", "tiny-join");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Serverless.sln"))) return dir.FullName;
        throw new InvalidOperationException("Serverless.sln not found above " + AppContext.BaseDirectory);
    }
}
