using System.Text.Json;
using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace TeeAspire.Tests;

/// <summary>
/// What `aspire publish` builds, checked without a container engine: every Dockerfile in the
/// repository is read as Docker reads it (continuations, comments, stages, WORKDIR, COPY), and
/// every Dockerfile the AppHost builds is resolved as Aspire resolves it
/// (<c>ContainerResourceBuilderExtensions.WithDockerfile</c>: context relative to the AppHost
/// folder, Dockerfile relative to the context). An image must build from source in a clean clone,
/// from base images pinned by digest.
/// </summary>
public sealed partial class DeployImageTests
{
    private static readonly string Root = StackFixture.RepoRoot;

    [Fact]
    public void EveryBaseImageIsPinnedByDigest()
    {
        var failures = new List<string>();
        foreach (var file in Dockerfiles())
        {
            var dockerfile = DockerfileText.Parse(File.ReadAllText(file));
            foreach (var syntax in dockerfile.SyntaxDirectives.Where(s => !PinnedImage().IsMatch(s)))
                failures.Add($"{Rel(file)}: `# syntax={syntax}` is not pinned by @sha256:<64 hex>");
            var earlier = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            foreach (var stage in dockerfile.Stages)
            {
                if (!earlier.Contains(stage.Base) && !PinnedImage().IsMatch(stage.Base))
                    failures.Add($"{Rel(file)}: `FROM {stage.Base}` is neither an earlier stage nor pinned by @sha256:<64 hex>");
                if (stage.Alias is not null) earlier.Add(stage.Alias);
            }
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void TheFinalStageCopiesTheBuildStageOutputAndNothingBuiltOnTheHost()
    {
        var failures = new List<string>();
        foreach (var file in Dockerfiles())
        {
            var final = DockerfileText.Parse(File.ReadAllText(file)).Stages[^1];
            foreach (var copy in final.Copies.Where(c => c.From is null))
            foreach (var source in copy.Sources.Where(s => s.Split('/').Any(part => part is "bin" or "obj" or "publish")))
                failures.Add($"{Rel(file)}: the final stage copies `{source}` from the host; the image must build it from source");
            if (!final.Copies.Any(c => c.From is not null))
                failures.Add($"{Rel(file)}: the final stage copies nothing from a build stage");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void TheBuildStagePublishesTheProjectTheImageRuns()
    {
        var failures = new List<string>();
        foreach (var (file, context) in AppHostDockerfiles())
        {
            var project = ProjectBeside(file);
            var projectInContext = Path.GetRelativePath(context, project).Replace('\\', '/');
            var dockerfile = DockerfileText.Parse(File.ReadAllText(file), context);
            var final = dockerfile.Stages[^1];

            var publishes = dockerfile.Stages[..^1]
                .SelectMany(stage => stage.DotnetPublishes.Select(p => (stage, p)))
                .Where(x => x.stage.ContextPathOf(x.p.Index, x.p.Project) == projectInContext)
                .ToList();
            if (publishes.Count == 0)
            {
                var seen = dockerfile.Stages.SelectMany(s => s.DotnetPublishes.Select(p => $"{p.Project} (→ {s.ContextPathOf(p.Index, p.Project) ?? "not copied"})"));
                failures.Add($"{Rel(file)}: no build stage runs `dotnet publish {projectInContext}` on the copied sources; found: {string.Join(", ", seen)}");
                continue;
            }

            var (buildStage, publish) = publishes[^1];
            if (publish.Output is null)
            {
                failures.Add($"{Rel(file)}: `dotnet publish` has no -o/--output directory for the final stage to copy");
                continue;
            }
            var output = Posix.Combine(buildStage.WorkdirAt(publish.Index), publish.Output);
            var copiesOutput = final.Copies.Any(c => c.From is { } from
                && (string.Equals(from, buildStage.Alias, StringComparison.OrdinalIgnoreCase) || from == dockerfile.Stages.IndexOf(buildStage).ToString())
                && c.Sources.Any(s => Posix.Combine("/", s) == output));
            if (!copiesOutput)
                failures.Add($"{Rel(file)}: the final stage does not COPY --from={buildStage.Alias} {output} (the publish output)");

            var assembly = AssemblyName(project) + ".dll";
            if (final.Entrypoint is null || !final.Entrypoint.Contains(assembly, StringComparison.Ordinal))
                failures.Add($"{Rel(file)}: ENTRYPOINT `{final.Entrypoint}` does not run {assembly}");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void TheAppHostBuildsEveryDockerfileFromAContextHoldingWhatItCopies()
    {
        var failures = new List<string>();
        var references = AppHostDockerfiles();
        Assert.NotEmpty(references);

        foreach (var file in Dockerfiles().Where(f => !references.Any(r => r.Dockerfile == f)))
            failures.Add($"{Rel(file)}: no WithDockerfile/AddDockerfile in AppHost/ builds it, so nothing says its context");

        foreach (var (file, context) in references)
        {
            var ignore = DockerIgnore.Load(context);
            foreach (var stage in DockerfileText.Parse(File.ReadAllText(file), context).Stages)
            foreach (var copy in stage.Copies.Where(c => c.From is null))
            foreach (var source in copy.Sources)
            {
                var path = Path.GetFullPath(source, context);
                if (!File.Exists(path) && !Directory.Exists(path))
                    failures.Add($"{Rel(file)}: COPY {source} — not in the build context {Rel(context)}");
                else if (ignore.Excludes(source))
                    failures.Add($"{Rel(file)}: COPY {source} — excluded by {Rel(context)}/.dockerignore");
                else if (Directory.Exists(path))
                    foreach (var output in new[] { "bin/x", "obj/x" })
                        if (!ignore.Excludes(Posix.Combine(source, output).TrimStart('/')))
                            failures.Add($"{Rel(file)}: COPY {source} would bring the host's {output[..3]}/ into the build (add it to .dockerignore)");
            }
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void TheBuildStageCopiesEveryProjectItBuildsAndTheRootBuildFiles()
    {
        var failures = new List<string>();
        foreach (var (file, context) in AppHostDockerfiles())
        {
            var dockerfile = DockerfileText.Parse(File.ReadAllText(file), context);
            var copied = dockerfile.Stages[..^1].SelectMany(s => s.Copies.Where(c => c.From is null).SelectMany(c => c.Sources))
                .Select(s => s.Trim('/') is "." or "" ? "" : s.Trim('/')).ToList();
            bool IsCopied(string path)
            {
                var rel = Path.GetRelativePath(context, path).Replace('\\', '/');
                return copied.Any(src => src.Length == 0 || src == rel || rel.StartsWith(src + "/", StringComparison.Ordinal));
            }

            // A project's whole folder (sources, not only the .csproj), for it and every project it references;
            // and the root files that change how it restores and builds (SDK, central versions, analyzers).
            var needed = ProjectClosure(ProjectBeside(file)).Select(p => Path.GetDirectoryName(p)!)
                .Concat(new[] { "global.json", "Directory.Build.props", "Directory.Build.targets", "Directory.Packages.props", ".editorconfig", "NuGet.config", "nuget.config" }
                    .Select(f => Path.Combine(context, f)).Where(File.Exists));
            foreach (var path in needed.Where(p => !IsCopied(p)))
                failures.Add($"{Rel(file)}: the build stage does not COPY {Path.GetRelativePath(context, path)}");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    // --- the repository's Dockerfiles and the AppHost's references to them ---

    [Fact]
    public void EveryProjectImageTheAppHostPublishesHasItsBaseImagePinnedByDigest()
    {
        // Projects without a Dockerfile are built by the SDK's container support (PublishContainer): their base is ContainerBaseImage.
        var appHost = File.ReadAllText(Path.Combine(Root, "AppHost", "AppHost.cs"));
        var projects = Regex.Matches(appHost, @"AddProject<Projects\.([A-Za-z_]+)>").Select(m => m.Groups[1].Value.Replace('_', '.')).ToList();
        Assert.NotEmpty(projects);
        foreach (var project in projects)
        {
            if (File.Exists(Path.Combine(Root, project, "Dockerfile"))) continue;
            var csproj = File.ReadAllText(Path.Combine(Root, project, project + ".csproj"));
            var baseImage = Regex.Match(csproj, "<ContainerBaseImage>([^<]+)</ContainerBaseImage>");
            Assert.True(baseImage.Success, $"{project}.csproj sets no ContainerBaseImage: its image would float on the SDK's default tag");
            Assert.Matches(PinnedImage(), baseImage.Groups[1].Value.Trim());
        }
    }

    private static List<string> Dockerfiles()
    {
        var found = new List<string>();
        void Walk(string dir)
        {
            foreach (var sub in Directory.EnumerateDirectories(dir))
                if (Path.GetFileName(sub) is not (".git" or "bin" or "obj" or "node_modules" or ".run")) Walk(sub);
            found.AddRange(Directory.EnumerateFiles(dir).Where(f => Path.GetFileName(f) is var n
                && (n == "Dockerfile" || n.EndsWith(".Dockerfile", StringComparison.Ordinal)
                    || (n.StartsWith("Dockerfile.", StringComparison.Ordinal) && !n.EndsWith(".dockerignore", StringComparison.Ordinal)))));
        }
        Walk(Root);
        Assert.NotEmpty(found);
        return found;
    }

    /// <summary>
    /// The AppHost's Dockerfile builds, resolved as Aspire 13 does: <c>WithDockerfile(contextPath,
    /// dockerfilePath = "Dockerfile")</c> and <c>AddDockerfile(name, contextPath, dockerfilePath)</c>
    /// take the context relative to the AppHost folder and the Dockerfile relative to the context.
    /// <c>PublishAsDockerFile</c> alone uses the project folder as the context, so each one must be
    /// given its context with WithDockerfile in its configure callback.
    /// </summary>
    private static List<(string Dockerfile, string Context)> AppHostDockerfiles()
    {
        var appHost = Path.Combine(Root, "AppHost");
        var result = new List<(string, string)>();
        foreach (var source in Directory.EnumerateFiles(appHost, "*.cs"))
        {
            var code = File.ReadAllText(source);
            foreach (Match m in DockerfileCall().Matches(code))
            {
                var context = Path.GetFullPath(m.Groups["context"].Value, appHost).TrimEnd('/');
                var dockerfile = Path.GetFullPath(m.Groups["dockerfile"].Success ? m.Groups["dockerfile"].Value : "Dockerfile", context);
                Assert.True(Directory.Exists(context), $"{Rel(source)}: the build context {m.Groups["context"].Value} is {context}, which does not exist");
                Assert.True(File.Exists(dockerfile), $"{Rel(source)}: the Dockerfile resolves to {dockerfile} (relative to the context {context}), which does not exist");
                result.Add((dockerfile, context));
            }
            foreach (Match m in PublishAsDockerFileCall().Matches(code))
            {
                var statement = code[m.Index..code.IndexOf(';', m.Index)];
                Assert.True(statement.Contains("WithDockerfile(", StringComparison.Ordinal),
                    $"{Rel(source)}: PublishAsDockerFile without WithDockerfile builds from the project folder, which lacks the projects it references: {statement}");
            }
        }
        return result;
    }

    [GeneratedRegex("""(?:WithDockerfile\(\s*|AddDockerfile\(\s*"[^"]*"\s*,\s*)(?:contextPath:\s*)?"(?<context>[^"]+)"(?:\s*,\s*(?:dockerfilePath:\s*)?"(?<dockerfile>[^"]+)")?""")]
    private static partial Regex DockerfileCall();

    [GeneratedRegex(@"\.PublishAsDockerFile\(")]
    private static partial Regex PublishAsDockerFileCall();

    [GeneratedRegex("^[^\\s@$]+@sha256:[0-9a-f]{64}$")]
    private static partial Regex PinnedImage();

    private static string ProjectBeside(string dockerfile)
    {
        var projects = Directory.GetFiles(Path.GetDirectoryName(dockerfile)!, "*.csproj");
        Assert.True(projects.Length == 1, $"{Rel(dockerfile)}: expected the one project it builds beside it, found {projects.Length}");
        return projects[0];
    }

    private static string AssemblyName(string project) =>
        XDocument.Load(project).Descendants("AssemblyName").Select(e => e.Value.Trim()).LastOrDefault()
        ?? Path.GetFileNameWithoutExtension(project);

    private static IEnumerable<string> ProjectClosure(string project)
    {
        var seen = new HashSet<string>();
        var todo = new Stack<string>([Path.GetFullPath(project)]);
        while (todo.Count > 0)
        {
            var current = todo.Pop();
            if (!seen.Add(current)) continue;
            foreach (var reference in XDocument.Load(current).Descendants("ProjectReference"))
                todo.Push(Path.GetFullPath(reference.Attribute("Include")!.Value.Replace('\\', '/'), Path.GetDirectoryName(current)!));
        }
        return seen;
    }

    private static string Rel(string path) => Path.GetRelativePath(Root, path);

    // --- a Dockerfile, read as the builder reads it ---

    private sealed record Copy(int Index, string? From, List<string> Sources, string Destination);

    private sealed record DotnetPublish(int Index, string Project, string? Output);

    private sealed class Stage(string @base, string? alias, string context)
    {
        private readonly List<(int Index, string Workdir)> _workdirs = [(-1, "/")];
        private readonly List<(int Index, string Image, string Context, bool IsDirectory)> _mappings = [];

        public string Base { get; } = @base;
        public string? Alias { get; } = alias;
        public List<Copy> Copies { get; } = [];
        public List<DotnetPublish> DotnetPublishes { get; } = [];
        public string? Entrypoint { get; set; }

        public string WorkdirAt(int index) => _workdirs.Last(w => w.Index < index).Workdir;

        public void SetWorkdir(int index, string dir) => _workdirs.Add((index, Posix.Combine(WorkdirAt(index), dir)));

        public void AddCopy(Copy copy)
        {
            Copies.Add(copy);
            if (copy.From is not null) return;
            var destination = Posix.Combine(WorkdirAt(copy.Index), copy.Destination);
            var intoDirectory = copy.Destination.EndsWith('/') || copy.Sources.Count > 1;
            foreach (var source in copy.Sources)
            {
                var src = source.TrimEnd('/');
                var isDirectory = source.EndsWith('/') || Directory.Exists(Path.Combine(context, src)) || src is ".";
                _mappings.Add(isDirectory
                    ? (copy.Index, destination, src is "." ? "" : src, true)
                    : (copy.Index, intoDirectory ? Posix.Combine(destination, Path.GetFileName(src)) : destination, src, false));
            }
        }

        /// <summary>Which file of the build context a path in this stage's image holds at instruction <paramref name="index"/> (null: none copied).</summary>
        public string? ContextPathOf(int index, string imagePath)
        {
            var path = Posix.Combine(WorkdirAt(index), imagePath);
            for (var i = _mappings.Count - 1; i >= 0; i--)
            {
                var (at, image, context, isDirectory) = _mappings[i];
                if (at >= index) continue;
                if (!isDirectory && path == image) return context;
                if (isDirectory && path.StartsWith(image.TrimEnd('/') + "/", StringComparison.Ordinal))
                    return (context.Length == 0 ? "" : context + "/") + path[(image.TrimEnd('/').Length + 1)..];
            }
            return null;
        }
    }

    private sealed partial class DockerfileText
    {
        public List<Stage> Stages { get; } = [];
        public List<string> SyntaxDirectives { get; } = [];

        /// <summary>Reads a Dockerfile; <paramref name="context"/> tells which COPY sources are folders.</summary>
        public static DockerfileText Parse(string text, string? context = null)
        {
            var result = new DockerfileText();
            var lines = text.Replace("\r\n", "\n").Split('\n');
            var inDirectives = true;
            var logical = new List<string>();
            var current = "";
            foreach (var raw in lines)
            {
                var line = raw.Trim();
                if (inDirectives && DirectiveLine().Match(line) is { Success: true } d)
                {
                    if (d.Groups[1].Value.Equals("syntax", StringComparison.OrdinalIgnoreCase)) result.SyntaxDirectives.Add(d.Groups[2].Value.Trim());
                    continue;
                }
                inDirectives = false;
                if (line.StartsWith('#') || (line.Length == 0 && current.Length == 0)) continue;
                if (line.EndsWith('\\')) { current += line[..^1] + " "; continue; }
                logical.Add(current + line);
                current = "";
            }
            if (current.Length > 0) logical.Add(current);

            for (var index = 0; index < logical.Count; index++)
            {
                var (keyword, rest) = Split(logical[index]);
                var stage = result.Stages.LastOrDefault();
                switch (keyword)
                {
                    case "FROM":
                        var words = rest.Split(' ', StringSplitOptions.RemoveEmptyEntries).Where(w => !w.StartsWith("--", StringComparison.Ordinal)).ToArray();
                        result.Stages.Add(new Stage(words[0], words.Length >= 3 && words[1].Equals("AS", StringComparison.OrdinalIgnoreCase) ? words[2] : null, context ?? Root));
                        break;
                    case "WORKDIR" when stage is not null:
                        stage.SetWorkdir(index, rest.Trim());
                        break;
                    case "COPY" or "ADD" when stage is not null:
                        var args = Arguments(rest);
                        var from = args.Where(a => a.StartsWith("--from=", StringComparison.Ordinal)).Select(a => a["--from=".Length..]).LastOrDefault();
                        var paths = args.Where(a => !a.StartsWith("--", StringComparison.Ordinal)).ToList();
                        stage.AddCopy(new Copy(index, from, paths[..^1], paths[^1]));
                        break;
                    case "RUN" when stage is not null:
                        foreach (var command in rest.Split(["&&", ";", "||"], StringSplitOptions.None))
                            if (DotnetPublishOf(index, Arguments(command)) is { } publish) stage.DotnetPublishes.Add(publish);
                        break;
                    case "ENTRYPOINT" when stage is not null:
                        stage.Entrypoint = rest.Trim();
                        break;
                }
            }
            Assert.True(result.Stages.Count > 0, "a Dockerfile without FROM");
            return result;
        }

        private static (string Keyword, string Arguments) Split(string line)
        {
            var space = line.IndexOfAny([' ', '\t']);
            return space < 0 ? (line.ToUpperInvariant(), "") : (line[..space].ToUpperInvariant(), line[(space + 1)..].Trim());
        }

        /// <summary>JSON form (["a", "b"]) or words, as shell words without expansion.</summary>
        private static List<string> Arguments(string rest)
        {
            rest = rest.Trim();
            if (rest.StartsWith('['))
                return JsonSerializer.Deserialize<List<string>>(rest)!;
            return Regex.Matches(rest, "\"([^\"]*)\"|'([^']*)'|(\\S+)")
                .Select(m => m.Groups[1].Success ? m.Groups[1].Value : m.Groups[2].Success ? m.Groups[2].Value : m.Groups[3].Value)
                .ToList();
        }

        private static DotnetPublish? DotnetPublishOf(int index, List<string> words)
        {
            var at = words.FindIndex(w => w == "dotnet" || w.EndsWith("/dotnet", StringComparison.Ordinal));
            if (at < 0 || at + 1 >= words.Count || words[at + 1] != "publish") return null;
            string? project = null, output = null;
            for (var i = at + 2; i < words.Count; i++)
            {
                var w = words[i];
                if (w is "-o" or "--output" && i + 1 < words.Count) output = words[++i];
                else if (w.StartsWith("--output=", StringComparison.Ordinal)) output = w["--output=".Length..];
                else if (w is "-c" or "--configuration" or "-r" or "--runtime" or "-f" or "--framework" or "-v" or "--verbosity" or "--os" or "--arch") i++;
                else if (!w.StartsWith('-') && project is null) project = w;
            }
            return new DotnetPublish(index, project ?? ".", output);
        }

        [GeneratedRegex(@"^#\s*([a-zA-Z]+)\s*=\s*(.+)$")]
        private static partial Regex DirectiveLine();
    }

    // --- .dockerignore, as the builder applies it (patterns cleaned, `**` any depth, `!` re-includes, last match wins) ---

    private sealed class DockerIgnore(List<(bool Include, Regex Pattern)> rules)
    {
        public static DockerIgnore Load(string context)
        {
            var path = Path.Combine(context, ".dockerignore");
            var rules = new List<(bool, Regex)>();
            if (File.Exists(path))
                foreach (var raw in File.ReadAllLines(path))
                {
                    var line = raw.Trim();
                    if (line.Length == 0 || line.StartsWith('#')) continue;
                    var include = line.StartsWith('!');
                    var pattern = (include ? line[1..] : line).Trim().Trim('/');
                    if (pattern.StartsWith("./", StringComparison.Ordinal)) pattern = pattern[2..];
                    rules.Add((include, new Regex("^" + GlobToRegex(pattern) + "$")));
                }
            return new DockerIgnore(rules);
        }

        /// <summary>A path is excluded when it, or a folder above it, is.</summary>
        public bool Excludes(string relativePath)
        {
            var parts = relativePath.Trim('/').Split('/', StringSplitOptions.RemoveEmptyEntries);
            for (var n = 1; n <= parts.Length; n++)
            {
                var prefix = string.Join('/', parts[..n]);
                var excluded = false;
                foreach (var (include, pattern) in rules)
                    if (pattern.IsMatch(prefix)) excluded = !include;
                if (excluded) return true;
            }
            return false;
        }

        private static string GlobToRegex(string glob)
        {
            var sb = new System.Text.StringBuilder();
            for (var i = 0; i < glob.Length; i++)
            {
                if (glob[i] == '*' && i + 1 < glob.Length && glob[i + 1] == '*')
                {
                    i++;
                    if (i + 1 < glob.Length && glob[i + 1] == '/') { i++; sb.Append("(?:.*/)?"); }
                    else sb.Append(".*");
                }
                else if (glob[i] == '*') sb.Append("[^/]*");
                else if (glob[i] == '?') sb.Append("[^/]");
                else sb.Append(Regex.Escape(glob[i].ToString()));
            }
            return sb.ToString();
        }
    }

    private static class Posix
    {
        public static string Combine(string directory, string path)
        {
            var full = path.StartsWith('/') ? path : directory.TrimEnd('/') + "/" + path;
            var parts = new List<string>();
            foreach (var part in full.Split('/', StringSplitOptions.RemoveEmptyEntries))
            {
                if (part == ".") continue;
                if (part == "..") { if (parts.Count > 0) parts.RemoveAt(parts.Count - 1); continue; }
                parts.Add(part);
            }
            return "/" + string.Join('/', parts);
        }
    }
}
