using Serverless.Inference.Generation;
using Serverless.Inference.Model;

namespace Serverless.Inference.Tests.Generation;

/// <summary>
/// The smallest owner of a <see cref="RowSet"/>, for the batch tests: admits the prompts, steps until no row is left and,
/// on a model whose rows can join, asks <c>join</c> between steps (with the free rows) for prompts to add — the loop a
/// scheduler runs. Outcomes are numbered in the order prompts were admitted.
/// </summary>
internal static class RowSetLoop
{
    public static IReadOnlyList<RowOutcome> RunRowSet(this T5Model model, IReadOnlyList<BatchPrompt> prompts,
        Action<int, RowOutcome>? onDone = null, Func<int, IReadOnlyList<BatchPrompt>>? join = null)
    {
        var order = new List<BatchPrompt>();
        var outcomes = new Dictionary<BatchPrompt, RowOutcome>(ReferenceEqualityComparer.Instance);
        using var set = new RowSet(model);
        Admit(prompts);
        while (true)
        {
            Report(set.Step());
            var free = set.ActiveRows > 0 ? set.FreeRows : model.Options.MaxBatchRows;
            var joining = join is not null && set.CanJoin && free > 0 ? join(free) : [];
            if (joining.Count > 0)
                Admit(joining);
            else if (set.ActiveRows == 0)
                break;
        }
        return order.Select(p => outcomes[p]).ToArray();

        void Admit(IReadOnlyList<BatchPrompt> batch)
        {
            order.AddRange(batch);
            Report(set.Admit(batch));
        }

        void Report(IReadOnlyList<RowOutcome> done)
        {
            foreach (var outcome in done)
            {
                outcomes[outcome.Prompt] = outcome;
                onDone?.Invoke(order.IndexOf(outcome.Prompt), outcome);
            }
        }
    }
}
