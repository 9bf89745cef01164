using System.Diagnostics;
using System.Runtime.InteropServices;
using Serverless.Inference.Model;
using Serverless.Inference.Telemetry;

namespace Serverless.Inference.Generation;

/// <summary>
/// A running decode batch of greedy or sampling rows (num_beams 1), driven one primitive at a time by its owner:
/// <see cref="Prefill"/> new prompts, <see cref="Absorb"/> them into the running batch, <see cref="Step"/> once, and
/// take the rows that finished. It never calls its owner: the owner decides what runs next (a scheduler, or
/// <see cref="ModelGeneration"/>'s calls, which prefill once and step until the set is empty).
/// </summary>
/// <remarks>
/// Every row's numbers are those of the same prompt run alone: the rows of a batch never mix in ONNX Runtime, and each
/// row's processors and sampler only see that row. Once enough rows have left (<see cref="CompactShare"/>) the stepper
/// drops their rows of the KV cache and encoder output, so later steps cost what the live rows cost. Prefilled rows
/// join a running batch only on a model that <see cref="T5Model.CanJoinRunningBatch"/>: the stock decoders have no
/// decoder self-attention mask, so there rows at different positions cannot share a step. Not thread-safe: one thread
/// owns a set. A set that drains (no row left) records its batch (<see cref="InferenceTelemetry.RecordBatch"/>).
/// </remarks>
internal sealed class RowSet : IDisposable
{
    /// <summary>
    /// Compact once at least this share of the stepper's rows has left. Compacting copies every per-row tensor; a
    /// finished row left in place costs its share of each step until then.
    /// </summary>
    internal const double CompactShare = 0.25;

    private readonly T5Model _model;
    private readonly CancellationToken _all;
    private readonly List<Row?> _live = [];   // _live[p] is the row at stepper position p, null once it left (until compaction)
    private readonly List<int> _positions = [];
    private readonly List<GenerationResult> _ran = [];
    private DecoderStepper? _stepper;
    private DateTime _started;
    private int _left;

    /// <param name="model">The model every row runs on.</param>
    /// <param name="cancellationToken">Cancels every row (each leaves with <see cref="FinishReason.Cancelled"/>); each
    /// prompt's own token cancels that row only.</param>
    public RowSet(T5Model model, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        model.ThrowIfDisposed();
        _model = model;
        _all = cancellationToken;
    }

    /// <summary>Rows still generating.</summary>
    public int ActiveRows { get; private set; }

    /// <summary>How many more rows the set takes (<see cref="ModelOptions.MaxBatchRows"/> less the active rows).</summary>
    public int FreeRows => _model.Options.MaxBatchRows - ActiveRows;

    /// <summary>Whether prefilled rows can join while rows are running (<see cref="T5Model.CanJoinRunningBatch"/>); when
    /// not, prompts are admitted only into an empty set.</summary>
    public bool CanJoin => _model.CanJoinRunningBatch;

    /// <summary>
    /// Prepares <paramref name="prompts"/> (each admitted or rejected with its own outcome), runs the encoder and the first
    /// decoder step over the admitted ones. Rows done after that step (or rejected) are in
    /// <see cref="PrefilledRows.Finished"/>; the others wait to be <see cref="Absorb"/>ed.
    /// </summary>
    /// <exception cref="ArgumentException">More prompts than <see cref="FreeRows"/>.</exception>
    public PrefilledRows Prefill(IReadOnlyList<BatchPrompt> prompts)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        if (prompts.Count > FreeRows)
            throw new ArgumentException($"A decode batch holds at most {_model.Options.MaxBatchRows} prompts (MaxBatchRows); {ActiveRows} are running and {prompts.Count} were given.", nameof(prompts));
        if (ActiveRows == 0 && _ran.Count == 0)
            _started = DateTime.UtcNow;
        var admittedAt = Stopwatch.GetTimestamp();
        var finished = new List<RowOutcome>();
        var rows = new List<Row>(prompts.Count);
        foreach (var prompt in prompts)
        {
            if (Admit(prompt, admittedAt, out var error) is { } row)
            {
                if (row.Cancelled(_all))
                    finished.Add(Done(row, FinishReason.Cancelled, 0)); // never enters the batch
                else
                    rows.Add(row);
            }
            else
            {
                finished.Add(new RowOutcome(prompt, null, error));
            }
        }
        if (rows.Count == 0)
            return new PrefilledRows(null, [], finished);
        return FirstStep(rows, finished);
    }

    /// <summary>Appends prefilled rows to the running batch (dropping rows that left in the same copy).</summary>
    /// <exception cref="InvalidOperationException">Rows are running on a model that cannot join them.</exception>
    public void Absorb(PrefilledRows prefilled)
    {
        ArgumentNullException.ThrowIfNull(prefilled);
        if (prefilled.Stepper is not { } joining)
            return;
        if (_stepper is not null && !CanJoin)
            throw new InvalidOperationException("This model's rows cannot join a running batch (T5Model.CanJoinRunningBatch); prefill once the set is empty.");
        prefilled.Stepper = null;
        if (_stepper is null)
            _stepper = joining;
        else
            DropLeftRows(joining); // takes joining's rows and disposes it
        var offset = _stepper.RunTicks;
        foreach (var row in prefilled.Rows)
        {
            row.RunTicksBefore += offset;
            _live.Add(row);
            ActiveRows++;
        }
    }

    /// <summary><see cref="Prefill"/> then <see cref="Absorb"/>; returns the prompts that are already done.</summary>
    public IReadOnlyList<RowOutcome> Admit(IReadOnlyList<BatchPrompt> prompts)
    {
        using var prefilled = Prefill(prompts);
        Absorb(prefilled);
        RecordIfDrained();
        return prefilled.Finished;
    }

    /// <summary>Runs one decoder step over the running rows; returns the rows that finished in it.</summary>
    public IReadOnlyList<RowOutcome> Step()
    {
        if (_stepper is not { } stepper || ActiveRows == 0)
            return [];
        var config = _model.Config;
        var vocab = config.VocabSize;
        var finished = new List<RowOutcome>();
        if (_all.IsCancellationRequested)
        {
            // The whole set is cancelled: every row leaves as it is, without another step (as each row's own token
            // would make it leave at its next one).
            foreach (var row in _live)
            {
                if (row is not null)
                    finished.Add(Done(row, FinishReason.Cancelled, stepper.RunTicks));
            }
            Drain();
            RecordIfDrained();
            return finished;
        }
        var logits = stepper.Step();
        var next = stepper.InputIds;
        for (var p = 0; p < _live.Count; p++)
        {
            next[p] = config.PadTokenId; // as HF feeds finished rows
            if (_live[p] is not { } row)
                continue;
            if (row.Advance(logits.Slice(p * vocab, vocab), out var token) is { } reason)
            {
                finished.Add(Done(row, reason, stepper.RunTicks));
                _live[p] = null;
                _left++;
                ActiveRows--;
            }
            else
            {
                next[p] = token;
            }
        }
        if (ActiveRows == 0)
            Drain();
        else if (_left > 0 && _left >= Math.Max(1, (int)Math.Ceiling(_live.Count * CompactShare)))
            DropLeftRows(joining: null);
        RecordIfDrained();
        return finished;
    }

    public void Dispose()
    {
        Drain();
        RecordIfDrained();
    }

    private Row? Admit(BatchPrompt prompt, long admittedAt, out Exception? error)
    {
        error = null;
        try
        {
            if (!BatchPrompt.CanShare(prompt.Options))
                throw new ArgumentException("num_beams > 1 (beam search) cannot share a decode batch; run it on its own with GenerateAsync.");
            Generator.ValidateOptions(_model, prompt.Options);
            var prepared = prompt.Prepared ?? (prompt.Ids is { } given ? PromptSource.FromIds([given]) : PromptSource.FromText([prompt.Text!]))
                .Prepare(_model, 0, prompt.Options.Truncation);
            return new Row(prompt, prepared, _model, prompt.CallStart != 0 ? prompt.CallStart : admittedAt);
        }
        catch (Exception e) when (e is InferenceException or ArgumentException)
        {
            error = e;
            return null;
        }
    }

    // The encoder and the first decoder step over the admitted rows, as a batch of their own.
    private PrefilledRows FirstStep(List<Row> rows, List<RowOutcome> finished)
    {
        var config = _model.Config;
        var vocab = config.VocabSize;
        var ids = new int[rows.Count][];
        for (var r = 0; r < ids.Length; r++)
            ids[r] = rows[r].Prepared.Ids;
        var (hidden, mask) = EncoderRun.Run(_model, ids, 1, out var encodeTicks);
        var joining = new DecoderStepper(_model, rows.Count, hidden, mask);
        try
        {
            joining.InputIds.Fill(config.DecoderStartTokenId);
            foreach (var row in rows)
            {
                row.EncodeTicks = encodeTicks;
                row.DecodeStart = Stopwatch.GetTimestamp();
            }
            var logits = joining.Step();
            var firstTokenAt = Stopwatch.GetTimestamp();
            var kept = new List<int>(rows.Count);
            for (var r = 0; r < rows.Count; r++)
            {
                var row = rows[r];
                row.FirstTokenAt = firstTokenAt;
                if (row.Advance(logits.Slice(r * vocab, vocab), out var token) is { } reason)
                {
                    finished.Add(Done(row, reason, joining.RunTicks)); // its first step was its only one
                    continue;
                }
                row.RunTicksBefore = -joining.RunTicks;
                joining.InputIds[r] = token;
                kept.Add(r);
            }
            if (kept.Count == 0)
            {
                joining.Dispose();
                return new PrefilledRows(null, [], finished);
            }
            joining.Compact(CollectionsMarshal.AsSpan(kept));
            return new PrefilledRows(joining, kept.Select(r => rows[r]).ToArray(), finished);
        }
        catch
        {
            joining.Dispose();
            throw;
        }
    }

    // Drops the rows that left from the running stepper and appends joining's rows, if any, in one copy of every
    // per-row tensor.
    private void DropLeftRows(DecoderStepper? joining)
    {
        _positions.Clear();
        for (var p = 0; p < _live.Count; p++)
        {
            if (_live[p] is not null)
                _positions.Add(p);
        }
        var keep = CollectionsMarshal.AsSpan(_positions);
        if (joining is null)
            _stepper!.Compact(keep);
        else
            _stepper!.Absorb(joining, keep);
        _live.RemoveAll(row => row is null);
        _left = 0;
    }

    private RowOutcome Done(Row row, FinishReason reason, long stepperRunTicks)
    {
        var result = row.Finish(reason, stepperRunTicks);
        _ran.Add(result);
        return new RowOutcome(row.Prompt, result, null);
    }

    // Every row is done: nothing to step.
    private void Drain()
    {
        _stepper?.Dispose();
        _stepper = null;
        _live.Clear();
        _left = 0;
        ActiveRows = 0;
    }

    // A drained set reports like any batch: one span and one set of measurements for the rows that ran.
    private void RecordIfDrained()
    {
        if (ActiveRows > 0 || _ran.Count == 0)
            return;
        InferenceTelemetry.RecordBatch(_started, _ran.ToArray(), beams: 1);
        _ran.Clear();
    }
}

/// <summary>
/// Prompts that ran their encoder and first decoder step (<see cref="RowSet.Prefill"/>): the rows still generating,
/// waiting for <see cref="RowSet.Absorb"/>, and the outcomes of those already done or rejected.
/// </summary>
internal sealed class PrefilledRows : IDisposable
{
    internal PrefilledRows(DecoderStepper? stepper, Row[] rows, IReadOnlyList<RowOutcome> finished)
    {
        Stepper = stepper;
        Rows = rows;
        Finished = finished;
    }

    /// <summary>Rejected prompts (their error) and rows done at their first token (their result).</summary>
    public IReadOnlyList<RowOutcome> Finished { get; }

    /// <summary>How many rows wait to be absorbed.</summary>
    public int Count => Rows.Length;

    internal DecoderStepper? Stepper { get; set; }
    internal Row[] Rows { get; }

    /// <summary>Releases the rows if they were never absorbed.</summary>
    public void Dispose()
    {
        Stepper?.Dispose();
        Stepper = null;
    }
}
