namespace TeeAspire.TestSupport;

/// <summary>The real evidence in ../shared/testdata (beside the repository).</summary>
public static class TestData
{
    public static string Root
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "shared", "testdata");
                if (Directory.Exists(candidate)) return candidate;
                candidate = Path.Combine(dir.FullName, "..", "shared", "testdata");
                if (Directory.Exists(Path.Combine(dir.FullName, ".git")) && Directory.Exists(candidate)) return Path.GetFullPath(candidate);
            }
            throw new DirectoryNotFoundException("../shared/testdata was not found beside the repository (it holds the real Azure CVM and Intel TDX evidence).");
        }
    }

    public static byte[] Bytes(string relative) => File.ReadAllBytes(Path.Combine(Root, relative));

    public static string Text(string relative) => File.ReadAllText(Path.Combine(Root, relative));
}
