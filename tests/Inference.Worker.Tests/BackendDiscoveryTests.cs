using Inference.Worker;
using Inference.Worker.Ollama;
using Microsoft.Extensions.Configuration;

namespace TeeAspire.Tests;

public sealed class BackendDiscoveryTests
{
    [Fact]
    public void ReadsAspireOllamaConnectionStringsGroupedByEndpoint()
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:deepseek-r1-1-5b"] = "Endpoint=http://ollama:11434;Model=deepseek-r1:1.5b",
            ["ConnectionStrings:deepseek-r1-7b"] = "Endpoint=http://ollama:11434/;Model=deepseek-r1:7b",
            ["ConnectionStrings:redis"] = "localhost:6379,password=x",
            ["Inference:Backends:0:Endpoint"] = "http://gpu-box:11434",
            ["Inference:Backends:0:Slots"] = "4",
            ["Inference:Backends:0:Models:0"] = "deepseek-r1:7b",
        }).Build();

        var options = new InferenceOptions { DefaultSlots = 2 };
        config.GetSection(InferenceOptions.Section).Bind(options);

        var backends = BackendPool.Discover(config, options);

        Assert.Equal(2, backends.Count);
        var ollama = Assert.Single(backends, b => b.Endpoint.Host == "ollama");
        Assert.Equal(2, ollama.Slots);
        Assert.Equal(["deepseek-r1:1.5b", "deepseek-r1:7b"], ollama.Configured.Order());
        var gpu = Assert.Single(backends, b => b.Endpoint.Host == "gpu-box");
        Assert.Equal(4, gpu.Slots);
    }

    [Theory]
    [InlineData("localhost:6379")]
    [InlineData("Endpoint=not a url;Model=x")]
    [InlineData("Endpoint=http://x:1")]
    [InlineData("Endpoint=http://x:1;Model=")]
    [InlineData("Endpoint=\"unterminated;Model=x")]
    public void IgnoresWhatIsNotAnOllamaConnectionString(string value) =>
        Assert.False(BackendPool.TryParseOllama(value, out _, out _));
}
