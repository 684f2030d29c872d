using System.Security.Cryptography;
using System.Text;


namespace Gateway.Api.Keys;

/// <summary>API key secrets: made, hashed and read from requests. Only hashes are ever stored.</summary>
public static class KeySecrets
{
    public const string Prefix = "sk-tee-";
    public const int MaxLength = 256;

    /// <summary><c>sk-tee-</c> + 256 bits from the OS CSPRNG, base64url.</summary>
    public static string Generate() => Prefix + Base64Url(RandomNumberGenerator.GetBytes(32));

    public static string NewId() => "key_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));

    public static string Hash(string secret) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));

    /// <summary>A hint that identifies a key to its owner without revealing it.</summary>
    public static string Hint(string secret) => secret.Length <= 12 ? "…" : secret[..Math.Min(7, secret.Length)] + "…" + secret[^4..];

    /// <summary>A secret must be printable ASCII without spaces, 16–256 characters.</summary>
    public static bool IsWellFormed(string secret) =>
        secret.Length is >= 16 and <= MaxLength && secret.All(c => c is > ' ' and <= '~');

    /// <summary>The secret from <c>Authorization: Bearer …</c> or <c>x-api-key</c>, or null.</summary>
    public static string? FromRequest(HttpRequest request)
    {
        var authorization = request.Headers.Authorization.ToString();
        if (authorization.Length > 0)
        {
            return authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
                ? authorization["Bearer ".Length..].Trim()
                : null;
        }
        var apiKey = request.Headers["x-api-key"].ToString();
        return apiKey.Length > 0 ? apiKey.Trim() : null;
    }

    /// <summary>Compares two secrets in time independent of where they differ (and of their lengths).</summary>
    public static bool FixedTimeEquals(string a, string b) =>
        CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(a)), SHA256.HashData(Encoding.UTF8.GetBytes(b)));

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
