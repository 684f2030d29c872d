namespace TeeAspire.AppHost;

/// <summary>
/// Ollama's concurrency, set on the container and told to the worker, so the worker never puts
/// more requests in flight on a backend than it has slots.
/// </summary>
internal static class OllamaSettings
{
    public const int NumParallel = 2;
    public const int MaxQueue = 64;
}
