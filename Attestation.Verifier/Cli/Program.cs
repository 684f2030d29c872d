using System.CommandLine;
using TeeAspire.Attestation.Verifier.Cli;

var allowInsecure = new Option<bool>("--allow-insecure-platform") { Description = "Accept platform: none (development machines, swtpm)" };
var policy = new Option<FileInfo?>("--policy") { Description = "Expected measurements (policy.json from 'policy capture')" };
var intelRoot = new Option<FileInfo?>("--intel-root") { Description = "Intel SGX Root CA (PEM) for TDX quotes" };
var imdsRoot = new Option<FileInfo?>("--imds-root") { Description = "Root (PEM) for the IMDS document's signer; default: the system store" };
var tcbInfo = new Option<FileInfo?>("--tcb-info") { Description = "Intel PCS TCB info (JSON) for the platform: reports the TDX TCB status" };
var save = new Option<FileInfo?>("--save") { Description = "Write the fetched report (with its nonce) to this file" };
var url = new Argument<string>("url") { Description = "The service, e.g. https://tee.example.com" };

var report = new Command("report", "Fetch a fresh report (random nonce) and verify it") { url, allowInsecure, policy, intelRoot, imdsRoot, tcbInfo, save };
report.SetAction((parse, ct) => Commands.ReportAsync(parse.GetValue(url)!, Options(parse), parse.GetValue(save), ct));

var file = new Argument<FileInfo>("file") { Description = "A saved report (JSON)" };
var nonce = new Option<string>("--nonce") { Description = "The nonce (hex) the report was asked with", Required = true };
var reportFile = new Command("report-file", "Verify a saved report") { file, nonce, allowInsecure, policy, intelRoot, imdsRoot, tcbInfo };
reportFile.SetAction((parse, _) => Commands.ReportFileAsync(parse.GetValue(file)!, parse.GetValue(nonce)!, Options(parse)));

var key = new Option<string>("--key") { Description = "API key (sk-tee-…)", Required = true };
var message = new Option<string>("--message") { Description = "The prompt", Required = true };
var model = new Option<string>("--model") { Description = "Model id", DefaultValueFactory = _ => "deepseek-r1" };
var chat = new Command("chat", "Verify a fresh report, send a chat, and verify the answer's signature against the attested key") { url, key, message, model, allowInsecure, policy, intelRoot, imdsRoot };
chat.SetAction((parse, ct) => Commands.ChatAsync(parse.GetValue(url)!, parse.GetValue(key)!, parse.GetValue(message)!, parse.GetValue(model)!, Options(parse), ct));

var output = new Option<FileInfo>("--output", "-o") { Description = "Where to write the policy", Required = true };
var capture = new Command("capture", "Write the service's current PCRs as the expected-measurements policy (after verifying the report)") { url, output, allowInsecure, intelRoot, imdsRoot };
capture.SetAction((parse, ct) => Commands.CapturePolicyAsync(parse.GetValue(url)!, parse.GetValue(output)!, Options(parse), ct));
var policyCommand = new Command("policy", "Expected-measurement policies") { capture };
policyCommand.Add(FromReleaseCommand.Create());

var root = new RootCommand("tee-verify: check that a TeeAspire service runs in the expected TEE, and that its answers came from it")
{
    report, reportFile, chat, policyCommand,
};
return await root.Parse(args).InvokeAsync();

VerifierOptions Options(ParseResult parse) => new(parse.GetValue(allowInsecure), parse.GetValue(policy), parse.GetValue(intelRoot), parse.GetValue(imdsRoot), parse.GetValue(tcbInfo));
