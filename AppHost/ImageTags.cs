namespace TeeAspire.AppHost;

/// <summary>Every container image tag the AppHost runs, pinned in one place.</summary>
internal static class ImageTags
{
    public const string Redis = "8.2";
    public const string Ollama = "0.13.0";
}
