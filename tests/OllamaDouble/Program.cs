namespace TeeAspire.OllamaDouble;

public static class DoubleProgram
{
    public static async Task Main(string[] args)
    {
        var app = DoubleHost.Create(args);
        app.Logger.LogWarning("This is the Ollama TEST DOUBLE: canned answers, not a model.");
        await app.RunAsync();
    }
}
