namespace Microsoft.Extensions.Hosting;

/// <summary>Names shared by the services' ActivitySources and Meters.</summary>
public static class TeeTelemetry
{
    /// <summary>Every TeeAspire ActivitySource and Meter name starts with this.</summary>
    public const string Prefix = "TeeAspire.";

    /// <summary>Span/metric attribute for the API key id (never the secret).</summary>
    public const string KeyIdAttribute = "tee.key_id";

    /// <summary>Span/metric attribute for the public model id.</summary>
    public const string ModelAttribute = "gen_ai.request.model";
}
