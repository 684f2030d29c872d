using TeeAspire.OllamaDouble;

var app = DoubleHost.Create(args);
app.Logger.LogWarning("This is the Ollama TEST DOUBLE: canned answers, not a model.");
await app.RunAsync();
