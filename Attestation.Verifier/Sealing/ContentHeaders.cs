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
        // NonValidated: the values as they are, copied without parsing each into its typed form
        // first (which the validated enumeration does, and which cost the sealed-request path about
        // as much as its key derivation, bench/sealed-notes.md round 2). Nothing is checked here
        // either way: the copy was already added without validation.
        foreach (var (name, values) in original.Headers.NonValidated)
            if (!name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
                content.Headers.TryAddWithoutValidation(name, values);
        return content;
    }
}
