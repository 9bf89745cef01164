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
    private bool _compacted;               // rows were dropped since the binding last saw the per-row inputs
    private float[] _scratch = [];
    private bool _disposed;

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

    /// <summary>Runs one decoder step; returns the logits of every row, [rows × vocab_size], writable in place.</summary>
    public Span<float> Step()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var names = _model.Names;
        var layers = _config.NumDecoderLayers;
        var cpu = OrtMemoryInfo.DefaultInstance;
        OrtValue[]? consumed = null;
        if (_step == 0)
        {
            _binding = _model.FirstDecoder.CreateIoBinding();
            _binding.BindInput("input_ids", _idsValue);
            _binding.BindInput("encoder_attention_mask", _encoderMask);
            _binding.BindInput("encoder_hidden_states", _encoderHidden);
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
        else
        {
            if (_step == 1)
            {
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
                for (var i = 0; i < 2 * layers; i++)
                    _binding.BindInput(names.PastEncoder[i], _cross[i]);
            }
            if (_compacted)
            {
                // Binding a name again replaces its value: the smaller per-row tensors from Compact.
                _binding!.BindInput("input_ids", _idsValue);
                _binding.BindInput("encoder_attention_mask", _encoderMask);
                if (_model.IsMerged || _model.WithPastTakesEncoderHiddenStates)
                    _binding.BindInput("encoder_hidden_states", _encoderHidden);
                _binding.BindOutput("logits", _logitsValue);
                for (var i = 0; i < 2 * layers; i++)
                    _binding.BindInput(names.PastEncoder[i], _cross[i]);
                _compacted = false;
            }
            for (var i = 0; i < 2 * layers; i++)
            {
                _binding!.BindInput(names.PastDecoder[i], _present[i]);
                // Rebinding to the device makes ONNX Runtime allocate a fresh (longer) tensor rather than reuse the
                // previous output, which is this step's input.
                _binding.BindOutputToDevice(names.PresentDecoder[i], cpu);
            }
            consumed = _present;
        }

        var start = Stopwatch.GetTimestamp();
        _model.Run(_step == 0 ? _model.FirstDecoder : _model.NextDecoder, _runOptions, _binding!);
        RunTicks += Stopwatch.GetTimestamp() - start;

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
        _step++;
        return _logits;
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
    /// A copy of every per-row tensor: call it when rows leave, not every step. Row <c>keep[i]</c> becomes row <c>i</c>.
    /// </summary>
    public void Compact(ReadOnlySpan<int> keep)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (keep.IsEmpty)
            throw new ArgumentException("At least one row must stay; dispose the stepper when every row is done.", nameof(keep));
        if (_step == 0)
            throw new InvalidOperationException("Rows can leave once the first step ran.");
        for (var i = 0; i < keep.Length; i++)
        {
            if ((uint)keep[i] >= (uint)_rows || (i > 0 && keep[i] <= keep[i - 1]))
                throw new ArgumentException($"Row positions must ascend within [0, {_rows}); got {keep[i]} at {i}.", nameof(keep));
        }
        if (keep.Length == _rows)
            return;

        for (var i = 0; i < _present.Length; i++)
            _present[i] = Gather<float>(_present[i], keep, _rows);
        for (var i = 0; i < _cross.Length; i++)
            _cross[i] = Gather<float>(_cross[i], keep, _rows);
        _encoderHidden = Gather<float>(_encoderHidden, keep, _rows);
        _encoderMask = Gather<long>(_encoderMask, keep, _rows);

        var ids = new long[keep.Length];
        for (var i = 0; i < keep.Length; i++)
            ids[i] = _ids[keep[i]];
        _idsValue.Dispose();
        _ids = ids;
        _idsValue = OrtValue.CreateTensorValueFromMemory(_ids, [keep.Length, 1]);
        _logitsValue.Dispose();
        _logits = new float[keep.Length * _config.VocabSize];
        _logitsValue = OrtValue.CreateTensorValueFromMemory(_logits, [keep.Length, 1, _config.VocabSize]);
        _rows = keep.Length;
        _compacted = true;
    }

    /// <summary>A new tensor of the <paramref name="keep"/> rows along axis 0; disposes <paramref name="source"/>.</summary>
    private static OrtValue Gather<T>(OrtValue source, ReadOnlySpan<int> keep, int rows) where T : unmanaged
    {
        using (source)
        {
            var shape = source.GetTensorTypeAndShape().Shape;
            var data = source.GetTensorDataAsSpan<T>();
            var rowSize = data.Length / rows;
            var kept = new T[keep.Length * rowSize];
            for (var i = 0; i < keep.Length; i++)
                data.Slice(keep[i] * rowSize, rowSize).CopyTo(kept.AsSpan(i * rowSize, rowSize));
            shape[0] = keep.Length;
            return OrtValue.CreateTensorValueFromMemory(kept, shape);
        }
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
        _encoderMask.Dispose();
        _encoderHidden.Dispose();
        _cacheFalse?.Dispose();
        _cacheTrue?.Dispose();
        _emptyPast?.Dispose();
        _runOptions.Dispose();
    }
}
