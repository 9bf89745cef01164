namespace Serverless.Inference.Tests.Model;

/// <summary>
/// The demo model exported with a decoder self-attention mask (<c>Fixtures/tiny-join</c>: its own two with-past decoders,
/// the demo's encoder, first-step decoder, config and tokenizer), so prompts can join a running batch; merged and split.
/// </summary>
public sealed class JoinableTinyModels() : MergedAndSplitModels(ModelDirectory)
{
    public static string ModelDirectory => Path.Combine(AppContext.BaseDirectory, "Fixtures", "tiny-join");
}
