using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using Serverless.Jobs.Http;
using Serverless.Jobs.Tests.Infrastructure;

namespace Serverless.Jobs.Tests;

/// <summary>JSON responses write text as characters (UTF-8), as README shows them, not as \uXXXX escapes.</summary>
public sealed class JsonResponseTextTests
{
    [Fact]
    public async Task A_problem_writes_apostrophes_as_characters()
    {
        await using var host = await JobsTestHost.CreateAsync();
        var (_, text) = await RawAsync(await host.Api.GetAsync(new DefaultHttpContext().Request, "no-such-job", CancellationToken.None));

        Assert.Contains("There is no job 'no-such-job'.", text);
        Assert.DoesNotContain("\\u0027", text);
    }

    [Fact]
    public async Task Tokens_and_non_ascii_text_are_written_as_characters_and_the_body_is_never_sniffed_as_html()
    {
        var (headers, text) = await RawAsync(new JobsHttpResult(200, new { tokens = new[] { "▁Wie", "</s>" }, text = "Grüße & \"quotes\"" }));

        Assert.Contains("\"▁Wie\"", text);
        Assert.Contains("\"</s>\"", text);
        Assert.Contains("Grüße & \\\"quotes\\\"", text); // a quote is still escaped, as JSON requires
        Assert.Equal("nosniff", headers.XContentTypeOptions);
    }

    private static async Task<(IHeaderDictionary Headers, string Text)> RawAsync(IActionResult result)
    {
        var context = new DefaultHttpContext();
        var body = new MemoryStream();
        context.Response.Body = body;
        await result.ExecuteResultAsync(new ActionContext(context, new RouteData(), new Microsoft.AspNetCore.Mvc.Abstractions.ActionDescriptor()));
        return (context.Response.Headers, Encoding.UTF8.GetString(body.ToArray()));
    }
}
