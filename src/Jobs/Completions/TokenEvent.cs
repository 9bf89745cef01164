namespace Serverless.Jobs.Completions;

/// <summary>One server-sent token event: <c>{"token": {"id", "text"}, "index"}</c> (index = the prompt's).</summary>
internal sealed record TokenEvent(TokenPayload Token, int Index);

internal sealed record TokenPayload(int Id, string Text);
