using System.Net;

namespace Serverless.EndToEnd.Tests;

public abstract partial class EndToEndTests<THost>
{
    [SkippableFact]
    public async Task The_root_answers_with_the_hosts_up_and_running_page_for_any_method()
    {
        SkipIfUnavailable();

        // The Functions host answers "/" itself (its home page, any method); the local host answers the same way.
        foreach (var method in new[] { HttpMethod.Get, HttpMethod.Post })
        {
            using var response = await host.Http.SendAsync(new HttpRequestMessage(method, "/"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
            Assert.Contains("up and running", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
    }

    [SkippableFact]
    public async Task A_method_the_trigger_does_not_list_is_no_such_function_even_head_of_a_get()
    {
        SkipIfUnavailable();

        // The Functions host routes a request to a function only for the methods its trigger lists: HEAD of the health
        // check (methods: get) is an empty 404, as is a DELETE of it, not ASP.NET Core's 405 or an implicit HEAD.
        foreach (var method in new[] { HttpMethod.Head, HttpMethod.Delete })
        {
            using var response = await host.Http.SendAsync(new HttpRequestMessage(method, "api/health"));
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            Assert.Empty(await response.Content.ReadAsByteArrayAsync());
        }
    }
}
