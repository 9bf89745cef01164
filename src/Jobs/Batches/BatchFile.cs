namespace Serverless.Jobs.Batches;

/// <summary>OpenAI's <c>file</c> object.</summary>
public sealed record BatchFile(string Id, long Bytes, long CreatedAt, string Filename, string Purpose)
{
    public string Object => "file";
    public string Status => "processed";
}
