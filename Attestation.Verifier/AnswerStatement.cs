using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace TeeAspire.Attestation.Verifier;

/// <summary>
/// The exact text an answer's signature covers (PROTOCOL.md, "Answer statement"). The worker
/// builds it to sign; a verifier rebuilds it from what it sent and received and never reads it
/// from the server:
/// <code>
/// tee-aspire/answer/v2\n
/// id=chatcmpl-…\n
/// created=&lt;unix seconds&gt;\n
/// model=&lt;ollama model&gt;@sha256:&lt;manifest digest&gt;\n
/// request_sha256=&lt;lowercase hex&gt;\n
/// response_sha256=&lt;lowercase hex&gt;\n
/// nonce=&lt;lowercase hex of the client's answer nonce, or empty&gt;\n
/// </code>
/// Version 1 is the same text without the <c>model=</c> line, under the header <c>tee-aspire/answer/v1</c>:
/// the worker signs it only when it does not know the answering model's digest.
/// Signed with ES256 (IEEE P1363 r‖s) over its UTF-8 bytes by an answer-signing key of the attested key set.
/// </summary>
public static partial class AnswerStatement
{
    /// <summary>The first line of a statement without a model.</summary>
    public const string Header = "tee-aspire/answer/v1";

    /// <summary>The first line of a statement that names the model and its digest.</summary>
    public const string HeaderV2 = "tee-aspire/answer/v2";

    /// <summary>The request header that carries the client's optional answer nonce (hex of 16–64 bytes).</summary>
    public const string NonceHeader = "x-answer-nonce";

    /// <summary>The signature algorithm name served with signatures.</summary>
    public const string SignatureAlgorithm = "ecdsa-p256-sha256";

    /// <summary>Builds the statement (v2 with <paramref name="model"/>, v1 without); throws <see cref="ArgumentException"/> when a field is out of its pattern.</summary>
    public static string Build(string id, long created, string requestSha256, string responseSha256, string? nonceHex, ModelRef? model = null)
    {
        if (!CompletionId().IsMatch(id)) throw new ArgumentException("id is not a completion id", nameof(id));
        if (created < 0) throw new ArgumentException("created is negative", nameof(created));
        if (!Sha256Hex().IsMatch(requestSha256)) throw new ArgumentException("not lowercase hex SHA-256", nameof(requestSha256));
        if (!Sha256Hex().IsMatch(responseSha256)) throw new ArgumentException("not lowercase hex SHA-256", nameof(responseSha256));
        var nonce = nonceHex ?? "";
        if (nonce.Length != 0 && !IsNonce(nonce)) throw new ArgumentException("the nonce is not lowercase hex of 16–64 bytes", nameof(nonceHex));
        if (model is not null && !ModelRef.TryParse(model.ToString(), out _)) throw new ArgumentException("the model is not <name>@sha256:<64 lowercase hex>", nameof(model));
        var text = new StringBuilder(model is null ? Header : HeaderV2).Append('\n')
            .Append("id=").Append(id).Append('\n')
            .Append("created=").Append(created.ToString(CultureInfo.InvariantCulture)).Append('\n');
        if (model is not null) text.Append("model=").Append(model).Append('\n');
        return text.Append("request_sha256=").Append(requestSha256).Append('\n')
            .Append("response_sha256=").Append(responseSha256).Append('\n')
            .Append("nonce=").Append(nonce).Append('\n')
            .ToString();
    }

    /// <summary>Whether a value is a valid answer nonce: lowercase hex of 16–64 bytes.</summary>
    public static bool IsNonce(string value) => AnswerNonce().IsMatch(value);

    /// <summary>Whether a value is a completion id (<c>chatcmpl-</c> + 1–64 letters or digits).</summary>
    public static bool IsCompletionId(string value) => CompletionId().IsMatch(value);

    [GeneratedRegex("^chatcmpl-[A-Za-z0-9]{1,64}$")]
    private static partial Regex CompletionId();

    [GeneratedRegex("^[0-9a-f]{64}$")]
    private static partial Regex Sha256Hex();

    [GeneratedRegex("^(?:[0-9a-f]{2}){16,64}$")]
    private static partial Regex AnswerNonce();
}
