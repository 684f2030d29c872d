using System.Security.Cryptography;
using System.Text;

namespace TeeAspire.Contracts;

/// <summary>Secret comparison that takes the same time whatever the inputs (their hashes are compared, so lengths leak nothing either).</summary>
public static class FixedTime
{
    public static bool Equals(string a, string b) =>
        CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(a)), SHA256.HashData(Encoding.UTF8.GetBytes(b)));
}
