namespace Serverless.Jobs.Tests.Infrastructure;

/// <summary>
/// Tests that compare waits with measured run times: they run alone, since other test classes decoding on the same two
/// cores in parallel stretch one side of the comparison and not the other.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TimingSensitiveCollection
{
    public const string Name = "timing-sensitive";
}
