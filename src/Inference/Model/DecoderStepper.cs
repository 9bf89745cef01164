using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Serverless.Inference.Model;

/// <summary>
/// The per-call state of one batch's decoder: runs one step at a time and keeps the KV cache inside ONNX Runtime.
/// </summary>
/// <remarks>
/// Step 1 runs the decoder without past (or the merged decoder with <c>use_cache_branch</c> false and empty past
/// tensors) and yields the cross-attention K/V once; they are kept for the whole call. Every later step binds the
/// previous step's <c>present.*.decoder.*</c> OrtValues, allocated by ONNX Runtime, as <c>past_key_values.*</c>:
/// the cache never passes through managed arrays. The decoder input ids and the logits live in pinned managed
/// arrays bound once, so a step allocates only the small wrappers ONNX Runtime hands back for new outputs.
/// Not thread-safe: one instance per call.
/// </remarks>
internal sealed class DecoderStepper : IDisposable
{
    private readonly T5Model _model;
    private readonly T5Config _config;
    private int _rows;
    private readonly RunOptions _runOptions;
    private long[] _ids;
    private OrtValue _idsValue;
    private float[] _logits;
    private OrtValue _logitsValue;
    private OrtValue _encoderMask;
    private OrtValue _encoderHidden;
    private readonly OrtValue? _cacheFalse, _cacheTrue, _emptyPast;
    private readonly OrtValue[] _cross;    // [2 * layer + 0|1]: encoder key, value from step 1
    private OrtValue[] _present;           // [2 * layer + 0|1]: decoder key, value of the last step
    private OrtIoBinding? _binding;
    private int _step;
    private bool _rebind;                  // the per-row tensors changed (Compact, Absorb) since the binding last saw them
    private float[] _scratch = [];
    // The decoder self-attention mask (models that take one): row r attends to cache columns _start[r].._length; the
    // columns before _start[r] are the left padding a row that joined later got (Absorb). _length = cache columns.
    private int[] _start;
    private int _length;
    private long[] _mask = [];
    private OrtValue? _maskValue;
    private bool _disposed;

    /// <param name="model">The model whose decoder runs.</param>
    /// <param name="rows">Decoder rows: prompts × beams.</param>
    /// <param name="encoderHidden">Owned from now on: <c>last_hidden_state</c> [rows, source, d_model].</param>
    /// <param name="encoderMask">Owned from now on: the attention mask [rows, source] (int64).</param>
    public DecoderStepper(T5Model model, int rows, OrtValue encoderHidden, OrtValue encoderMask)
    {
        _model = model;
        _config = model.Config;
        _rows = rows;
        _encoderHidden = encoderHidden;
        _encoderMask = encoderMask;
        _runOptions = new RunOptions();
        _ids = new long[rows];
        _idsValue = OrtValue.CreateTensorValueFromMemory(_ids, [rows, 1]);
        _logits = new float[rows * _config.VocabSize];
        _logitsValue = OrtValue.CreateTensorValueFromMemory(_logits, [rows, 1, _config.VocabSize]);
        _cross = new OrtValue[2 * _config.NumDecoderLayers];
        _present = new OrtValue[2 * _config.NumDecoderLayers];
        _start = new int[rows];
        if (model.IsMerged)
        {
            _cacheFalse = OrtValue.CreateTensorValueFromMemory(new[] { false }, [1]);
            _cacheTrue = OrtValue.CreateTensorValueFromMemory(new[] { true }, [1]);
            _emptyPast = OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, TensorElementType.Float,
                [rows, _config.NumHeads, 0, _config.DKv]);
        }
    }

    /// <summary>The decoder input of the next step, one token per row; write it before <see cref="Step"/>.</summary>
    public Span<long> InputIds => _ids;

    /// <summary>Rows of the batch now (fewer after <see cref="Compact"/>).</summary>
    public int Rows => _rows;

    /// <summary>Time spent inside ONNX Runtime's Run, in <see cref="Stopwatch"/> ticks.</summary>
    public long RunTicks { get; private set; }

    public int Steps => _step;

    /// <summary>Columns of the self-attention cache (the longest row's decoded tokens, after trimming).</summary>
    public int CacheLength => _length;

    /// <summary>Runs one decoder step; returns the logits of every row, [rows × vocab_size], writable in place.</summary>
    public Span<float> Step()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        OrtValue[]? consumed = null;
        if (_step == 0)
        {
            BindFirstStep();
        }
        else
        {
            if (_step == 1)
                BindCacheBranch();
            if (_rebind)
                BindRowTensors();
            BindPast();
            consumed = _present;
        }

        var start = Stopwatch.GetTimestamp();
        _model.Run(_step == 0 ? _model.FirstDecoder : _model.NextDecoder, _runOptions, _binding!);
        RunTicks += Stopwatch.GetTimestamp() - start;
        TakeOutputs(consumed);
        _step++;
        _length++;
        return _logits;
    }

    /// <summary>Step 1: the decoder without past (or the merged one with <c>use_cache_branch</c> false and empty past).</summary>
    private void BindFirstStep()
    {
        var names = _model.Names;
        var layers = _config.NumDecoderLayers;
        var cpu = OrtMemoryInfo.DefaultInstance;
        _binding = _model.FirstDecoder.CreateIoBinding();
        _binding.BindInput("input_ids", _idsValue);
        _binding.BindInput("encoder_attention_mask", _encoderMask);
        _binding.BindInput("encoder_hidden_states", _encoderHidden);
        if (_model.FirstDecoderTakesMask)
            BindMask(); // declared by the merged graph; only its cache branch reads it
        if (_model.IsMerged)
        {
            _binding.BindInput("use_cache_branch", _cacheFalse!);
            for (var i = 0; i < 2 * layers; i++)
            {
                _binding.BindInput(names.PastDecoder[i], _emptyPast!);
                _binding.BindInput(names.PastEncoder[i], _emptyPast!);
            }
        }
        _binding.BindOutput("logits", _logitsValue);
        for (var i = 0; i < 2 * layers; i++)
            _binding.BindOutputToDevice(names.PresentDecoder[i], cpu);
        for (var i = 0; i < 2 * layers; i++)
            _binding.BindOutputToDevice(names.PresentEncoder[i], cpu);
    }

    /// <summary>Step 2, once: switches to the graph with past (the merged one's cache branch) and binds the cross K/V.</summary>
    private void BindCacheBranch()
    {
        var names = _model.Names;
        if (_model.IsMerged)
        {
            _binding!.BindInput("use_cache_branch", _cacheTrue!);
            // The cache branch does not need the encoder presents again: drop those outputs.
            _binding.ClearBoundOutputs();
            _binding.BindOutput("logits", _logitsValue);
        }
        else
        {
            _binding!.Dispose();
            _binding = _model.DecoderWithPast!.CreateIoBinding();
            _binding.BindInput("input_ids", _idsValue);
            _binding.BindInput("encoder_attention_mask", _encoderMask);
            if (_model.WithPastTakesEncoderHiddenStates)
                _binding.BindInput("encoder_hidden_states", _encoderHidden);
            _binding.BindOutput("logits", _logitsValue);
        }
        for (var i = 0; i < 2 * _config.NumDecoderLayers; i++)
            _binding.BindInput(names.PastEncoder[i], _cross[i]);
    }

    /// <summary>Binding a name again replaces its value: the per-row tensors from <see cref="Compact"/> or <see cref="Absorb"/>.</summary>
    private void BindRowTensors()
    {
        var names = _model.Names;
        _binding!.BindInput("input_ids", _idsValue);
        _binding.BindInput("encoder_attention_mask", _encoderMask);
        if (_model.IsMerged || _model.WithPastTakesEncoderHiddenStates)
            _binding.BindInput("encoder_hidden_states", _encoderHidden);
        _binding.BindOutput("logits", _logitsValue);
        for (var i = 0; i < 2 * _config.NumDecoderLayers; i++)
            _binding.BindInput(names.PastEncoder[i], _cross[i]);
        _rebind = false;
    }

    /// <summary>The last step's decoder presents as this step's past, and (joinable models) the self-attention mask.</summary>
    private void BindPast()
    {
        var names = _model.Names;
        var cpu = OrtMemoryInfo.DefaultInstance;
        if (_model.CanJoinRunningBatch)
            BindMask();
        for (var i = 0; i < 2 * _config.NumDecoderLayers; i++)
        {
            _binding!.BindInput(names.PastDecoder[i], _present[i]);
            // Rebinding to the device makes ONNX Runtime allocate a fresh (longer) tensor rather than reuse the
            // previous output, which is this step's input.
            _binding.BindOutputToDevice(names.PresentDecoder[i], cpu);
        }
    }

    /// <summary>Keeps the step's decoder presents (and, on step 1, the cross K/V) and disposes the past they replace.</summary>
    private void TakeOutputs(OrtValue[]? consumed)
    {
        var layers = _config.NumDecoderLayers;
        // Outputs come back in binding order: logits, the decoder presents, then (step 1) the encoder presents.
        var outputs = _binding!.GetOutputValues();
        var fresh = new OrtValue[2 * layers];
        for (var i = 0; i < 2 * layers; i++)
            fresh[i] = outputs[1 + i];
        if (_step == 0)
        {
            for (var i = 0; i < 2 * layers; i++)
                _cross[i] = outputs[1 + 2 * layers + i];
        }
        outputs[0].Dispose(); // a second handle on our own logits buffer
        _present = fresh;
        if (consumed is not null)
        {
            foreach (var value in consumed)
                value.Dispose();
        }
    }

    /// <summary>Binds the decoder self-attention mask of the coming step: [rows, cache + 1], zeros over each row's padding.</summary>
    private void BindMask()
    {
        var width = _length + 1;
        var size = _rows * width;
        if (_mask.Length < size)
            _mask = new long[Math.Max(size, _mask.Length * 2)];
        for (var r = 0; r < _rows; r++)
        {
            var row = _mask.AsSpan(r * width, width);
            row[.._start[r]].Clear();
            row[_start[r]..].Fill(1);
        }
        var value = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, _mask.AsMemory(0, size), [_rows, width]);
        _binding!.BindInput(T5Model.DecoderMaskInput, value);
        _maskValue?.Dispose();
        _maskValue = value;
    }

    /// <summary>
    /// Reorders the decoder self-attention cache along the batch axis: row r continues from row
    /// <paramref name="sourceRows"/>[r] (beam search). The cross-attention K/V are equal for the beams of one prompt
    /// and stay as they are.
    /// </summary>
    public void Reorder(ReadOnlySpan<int> sourceRows)
    {
        var identity = true;
        for (var r = 0; r < sourceRows.Length && identity; r++)
            identity = sourceRows[r] == r;
        if (identity || _step == 0)
            return;
        foreach (var value in _present)
        {
            var data = value.GetTensorMutableDataAsSpan<float>();
            var rowSize = data.Length / _rows;
            if (_scratch.Length < data.Length)
                _scratch = new float[Math.Max(data.Length, _scratch.Length * 2)];
            data.CopyTo(_scratch);
            for (var r = 0; r < _rows; r++)
                _scratch.AsSpan(sourceRows[r] * rowSize, rowSize).CopyTo(data.Slice(r * rowSize, rowSize));
        }
    }

    /// <summary>
    /// Keeps only the rows <paramref name="keep"/> (ascending positions of the current rows) of the self-attention
    /// cache, the cross-attention K/V, the encoder output and its mask, so later steps cost what the kept rows cost.
    /// Cache columns that are padding for every kept row (they were older than any kept row) and encoder positions past
    /// the longest kept prompt go too. A copy of every per-row tensor: call it when rows leave, not every step. Row
    /// <c>keep[i]</c> becomes row <c>i</c>.
    /// </summary>
    public void Compact(ReadOnlySpan<int> keep)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (keep.IsEmpty)
            throw new ArgumentException("At least one row must stay; dispose the stepper when every row is done.", nameof(keep));
        if (_step == 0)
            throw new InvalidOperationException("Rows can leave once the first step ran.");
        CheckKeep(keep);
        if (keep.Length == _rows)
            return;

        var (from, used) = KeptWindow(keep);
        for (var i = 0; i < _present.Length; i++)
            _present[i] = Slice<float>(_present[i], keep, axis: 2, from, _length);
        for (var i = 0; i < _cross.Length; i++)
            _cross[i] = Slice<float>(_cross[i], keep, axis: 2, 0, used);
        _encoderHidden = Slice<float>(_encoderHidden, keep, axis: 1, 0, used);
        _encoderMask = Slice<long>(_encoderMask, keep, axis: 1, 0, used);

        var ids = new long[keep.Length];
        var start = new int[keep.Length];
        for (var i = 0; i < keep.Length; i++)
        {
            ids[i] = _ids[keep[i]];
            start[i] = _start[keep[i]] - from;
        }
        _start = start;
        _length -= from;
        ReplaceRowBuffers(ids);
    }

    /// <summary>
    /// Appends the rows of <paramref name="joining"/> (a stepper of new prompts that ran its first step) after this
    /// stepper's rows <paramref name="keep"/> (ascending positions; the others leave, as in <see cref="Compact"/>), and
    /// disposes it: the rows then share every later step. The shorter side's self-attention cache is left-padded with
    /// zeros up to the longer one's and the padding masked (T5's positions are relative, so a row's attention is what it
    /// was alone); the shorter prompts' encoder side is right-padded and masked as in any batch. Needs
    /// <see cref="T5Model.CanJoinRunningBatch"/>. One copy of every per-row tensor per join.
    /// </summary>
    public void Absorb(DecoderStepper joining, ReadOnlySpan<int> keep)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(joining);
        if (!_model.CanJoinRunningBatch)
            throw new InvalidOperationException("This model's decoder has no decoder_attention_mask input: rows cannot join a running batch.");
        if (!ReferenceEquals(joining._model, _model) || _step == 0 || joining._step == 0)
            throw new InvalidOperationException("Only a stepper of the same model can join, once both ran their first step.");
        CheckKeep(keep);
        using (joining)
        {
            var (from, used) = KeptWindow(keep);
            var kept = _length - from;
            var length = Math.Max(kept, joining._length);
            var source = Math.Max(used, (int)joining._encoderMask.GetTensorTypeAndShape().Shape[1]);
            for (var i = 0; i < _present.Length; i++)
                _present[i] = Concat<float>(_present[i], keep, from, _length, joining._present[i], axis: 2, length, padLeft: true);
            for (var i = 0; i < _cross.Length; i++)
                _cross[i] = Concat<float>(_cross[i], keep, 0, used, joining._cross[i], axis: 2, source, padLeft: false);
            _encoderHidden = Concat<float>(_encoderHidden, keep, 0, used, joining._encoderHidden, axis: 1, source, padLeft: false);
            _encoderMask = Concat<long>(_encoderMask, keep, 0, used, joining._encoderMask, axis: 1, source, padLeft: false);
            // Concat disposed the joining side's tensors; its Dispose must not see them again.
            Array.Clear(joining._present);
            Array.Clear(joining._cross);
            joining._encoderHidden = null!;
            joining._encoderMask = null!;

            var rows = keep.Length + joining._rows;
            var start = new int[rows];
            var ids = new long[rows];
            for (var i = 0; i < keep.Length; i++)
            {
                start[i] = _start[keep[i]] - from + (length - kept);
                ids[i] = _ids[keep[i]];
            }
            for (var r = 0; r < joining._rows; r++)
            {
                start[keep.Length + r] = joining._start[r] + (length - joining._length);
                ids[keep.Length + r] = joining._ids[r];
            }
            _start = start;
            _length = length;
            ReplaceRowBuffers(ids);
        }
    }

    private void CheckKeep(ReadOnlySpan<int> keep)
    {
        for (var i = 0; i < keep.Length; i++)
        {
            if ((uint)keep[i] >= (uint)_rows || (i > 0 && keep[i] <= keep[i - 1]))
                throw new ArgumentException($"Row positions must ascend within [0, {_rows}); got {keep[i]} at {i}.", nameof(keep));
        }
    }

    /// <summary>
    /// What the kept rows use: cache columns from the oldest one's first (earlier columns are padding for all of them) and
    /// encoder positions up to the longest kept prompt (prompts are right-padded: a row's length is its count of ones).
    /// </summary>
    private (int From, int Used) KeptWindow(ReadOnlySpan<int> keep)
    {
        var from = keep.IsEmpty ? _length : int.MaxValue;
        foreach (var r in keep)
            from = Math.Min(from, _start[r]);
        var source = (int)_encoderMask.GetTensorTypeAndShape().Shape[1];
        var encoderMask = _encoderMask.GetTensorDataAsSpan<long>();
        var used = 0;
        foreach (var r in keep)
        {
            var ones = 0;
            foreach (var bit in encoderMask.Slice(r * source, source))
                ones += bit != 0 ? 1 : 0;
            used = Math.Max(used, ones);
        }
        return (from, used);
    }

    /// <summary>New input-id and logits buffers for a changed set of rows; the binding picks them up next step.</summary>
    private void ReplaceRowBuffers(long[] ids)
    {
        _idsValue.Dispose();
        _ids = ids;
        _idsValue = OrtValue.CreateTensorValueFromMemory(_ids, [ids.Length, 1]);
        _logitsValue.Dispose();
        _logits = new float[ids.Length * _config.VocabSize];
        _logitsValue = OrtValue.CreateTensorValueFromMemory(_logits, [ids.Length, 1, _config.VocabSize]);
        _rows = ids.Length;
        _rebind = true;
    }

    /// <summary>
    /// A new tensor of the <paramref name="keep"/> rows (axis 0) and of positions [<paramref name="from"/>,
    /// <paramref name="to"/>) along <paramref name="axis"/>; disposes <paramref name="source"/>.
    /// </summary>
    private static OrtValue Slice<T>(OrtValue source, ReadOnlySpan<int> keep, int axis, int from, int to) where T : unmanaged =>
        Concat<T>(source, keep, from, to, second: null, axis, to - from, padLeft: false);

    /// <summary>
    /// <paramref name="first"/>'s rows <paramref name="keep"/>, positions [<paramref name="from"/>, <paramref name="to"/>)
    /// along <paramref name="axis"/>, then all of <paramref name="second"/>'s (if any), each zero-padded along the axis to
    /// <paramref name="length"/> (before its positions when <paramref name="padLeft"/>); disposes both.
    /// </summary>
    private static OrtValue Concat<T>(OrtValue first, ReadOnlySpan<int> keep, int from, int to, OrtValue? second, int axis, int length,
        bool padLeft) where T : unmanaged
    {
        using (first)
        using (second)
        {
            var firstShape = first.GetTensorTypeAndShape().Shape;
            var (outer, firstLength, inner) = Blocks(firstShape, axis);
            var secondShape = second?.GetTensorTypeAndShape().Shape;
            var secondLength = secondShape is null ? 0 : (int)secondShape[axis];
            var secondRows = secondShape is null ? 0 : (int)secondShape[0];
            // Every element is written below, padding included: no need to zero the array first.
            var joined = GC.AllocateUninitializedArray<T>((keep.Length + secondRows) * outer * length * inner);
            var firstData = first.GetTensorDataAsSpan<T>();
            for (var i = 0; i < keep.Length; i++)
            {
                for (var o = 0; o < outer; o++)
                {
                    Place(firstData.Slice(((keep[i] * outer + o) * firstLength + from) * inner, (to - from) * inner),
                        joined.AsSpan((i * outer + o) * length * inner, length * inner), padLeft);
                }
            }
            var secondData = second is null ? [] : second.GetTensorDataAsSpan<T>();
            for (var b = 0; b < secondRows * outer; b++)
            {
                Place(secondData.Slice(b * secondLength * inner, secondLength * inner),
                    joined.AsSpan((keep.Length * outer + b) * length * inner, length * inner), padLeft);
            }
            var joinedShape = (long[])firstShape.Clone();
            joinedShape[0] = keep.Length + secondRows;
            joinedShape[axis] = length;
            return OrtValue.CreateTensorValueFromMemory(joined, joinedShape);
        }

        static void Place(ReadOnlySpan<T> values, Span<T> block, bool padLeft)
        {
            var pad = block.Length - values.Length;
            values.CopyTo(block.Slice(padLeft ? pad : 0, values.Length));
            block.Slice(padLeft ? 0 : values.Length, pad).Clear();
        }
    }

    /// <summary>A per-row tensor's layout around <paramref name="axis"/>: blocks per row before it, its length, elements after it.</summary>
    private static (int Outer, int Length, int Inner) Blocks(long[] shape, int axis)
    {
        var outer = 1;
        for (var d = 1; d < axis; d++)
            outer *= (int)shape[d];
        var inner = 1;
        for (var d = axis + 1; d < shape.Length; d++)
            inner *= (int)shape[d];
        return (outer, (int)shape[axis], inner);
    }

    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        _binding?.Dispose();
        foreach (var v in _present)
            v?.Dispose();
        foreach (var v in _cross)
            v?.Dispose();
        _idsValue.Dispose();
        _logitsValue.Dispose();
        _maskValue?.Dispose();
        _encoderMask?.Dispose();
        _encoderHidden?.Dispose();
        _cacheFalse?.Dispose();
        _cacheTrue?.Dispose();
        _emptyPast?.Dispose();
        _runOptions.Dispose();
    }
}
