#:project ../src/Inference/Inference.csproj
// dotnet run scripts/check-stock-joins.cs -- MODEL_DIR [THREADS]: loads a model folder as exported and with the engine's decoder-mask rewrite, then runs rows that join a running batch
// on the rewritten one and compares every row's ids with the prompt run alone on the graph as exported.
using System.Diagnostics;
using Serverless.Inference.Generation;
using Serverless.Inference.Model;

var dir = args.Length > 0 ? args[0] : "/work/main/.models/flan-t5-small-random";
var threads = args.Length > 1 ? int.Parse(args[1]) : 2;
var sw = Stopwatch.StartNew();
using var asExported = T5Model.Load(dir, new ModelOptions { AddDecoderMask = false, IntraOpThreads = threads });
var plain = sw.Elapsed.TotalSeconds;
sw.Restart();
using var model = T5Model.Load(dir, new ModelOptions { IntraOpThreads = threads });
var rewritten = sw.Elapsed.TotalSeconds;
Console.WriteLine($"as exported: merged {asExported.IsMerged}, joins {asExported.CanJoinRunningBatch}, load {plain:0.00} s");
Console.WriteLine($"rewritten:   merged {model.IsMerged}, joins {model.CanJoinRunningBatch} {model.JoinUnavailableReason}, load {rewritten:0.00} s");

string[] texts = ["translate English to German: How old are you?", "a", "the red fox jumps over the lazy dog again and again",
    "Question: what colour is the sky?", "hello there", "Summarize: the meeting moved to Thursday because of the storm."];
var prompts = texts.Select((t, i) => BatchPrompt.FromText(t, new GenerationOptions { MaxNewTokens = 12 + 2 * i, MinNewTokens = 12 + 2 * i })).ToArray();
var outcomes = new Dictionary<BatchPrompt, RowOutcome>(ReferenceEqualityComparer.Instance);
using (var set = new RowSet(model))
{
    foreach (var o in set.Admit(prompts[..2])) outcomes[o.Prompt] = o;
    for (var step = 1; set.ActiveRows > 0; step++)
    {
        foreach (var o in set.Step()) outcomes[o.Prompt] = o;
        if ((step == 3 || step == 7) && set.ActiveRows > 0)
        {
            var joining = step == 3 ? prompts[2..4] : prompts[4..6];
            var before = set.ActiveRows;
            foreach (var o in set.Admit(joining)) outcomes[o.Prompt] = o;
            Console.WriteLine($"after step {step}: {joining.Length} rows joined a running batch of {before} (now {set.ActiveRows})");
        }
    }
}
var same = 0;
foreach (var p in prompts)
{
    var alone = (await asExported.GenerateAsync([p.Text!], p.Options))[0];
    var joined = outcomes[p].Result!;
    var equal = alone.OutputIds.SequenceEqual(joined.OutputIds);
    same += equal ? 1 : 0;
    Console.WriteLine($"{(equal ? "same" : "DIFFERENT")}: {joined.OutputTokens} tokens, '{p.Text}'");
}
Console.WriteLine($"{same}/{prompts.Length} joined rows equal their prompt run alone on the graph as exported");
return same == prompts.Length && model.CanJoinRunningBatch ? 0 : 1;
