using System.Net;
using Microsoft.AspNetCore.Mvc.Testing;

namespace TeeAspire.Tests;

public sealed class HealthEndpointsTests
{
    [Theory]
    [InlineData("/health")]
    [InlineData("/alive")]
    public async Task HealthEndpointAnswers200(string path)
    {
        await using var factory = new WebApplicationFactory<Program>();
        using var client = factory.CreateClient();

        using var response = await client.GetAsync(path, TestContext.Current);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }
}
