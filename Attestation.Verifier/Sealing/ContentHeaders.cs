namespace TeeAspire.Attestation.Verifier.Sealing;

/// <summary>
/// A body replaced by another — sealed, opened, or already held in memory — keeps the headers of
/// the content it replaces (type, encoding…) but states its own length.
/// </summary>
public static class ContentHeaders
{
    /// <summary>Copies every header of <paramref name="original"/> but <c>Content-Length</c> onto <paramref name="content"/>.</summary>
    public static TContent WithHeadersOf<TContent>(this TContent content, HttpContent original) where TContent : HttpContent
    {
        ArgumentNullException.ThrowIfNull(content);
        ArgumentNullException.ThrowIfNull(original);
        foreach (var header in original.Headers)
            if (!header.Key.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
                content.Headers.TryAddWithoutValidation(header.Key, header.Value);
        return content;
    }
}
