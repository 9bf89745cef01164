using System.Text;

namespace Serverless.Inference.Chat;

/// <summary>One message of a conversation, as <see cref="ChatTemplate.Format"/> takes it.</summary>
/// <param name="Role"><c>system</c>, <c>developer</c>, <c>user</c> or <c>assistant</c>, as OpenAI's API names them
/// (lower case).</param>
/// <param name="Text">The message's text.</param>
public sealed record ChatTurn(string Role, string Text);

/// <summary>
/// Turns a conversation into one flan-T5 prompt. flan-T5 is a text-to-text model tuned on single-turn instructions
/// (inputs → targets), not a chat model: it has no roles and no chat template of its own, so this template keeps the
/// common case exactly the instruction a user would write, and spells out a longer conversation as a transcript.
/// </summary>
/// <remarks>
/// The rules, in order:
/// <list type="number">
/// <item>System and developer messages (one instruction role) are joined with a blank line and come first, followed by
/// a blank line.</item>
/// <item>One user message and no assistant message: the user's text as it is. So
/// <c>[user: "Translate to German: good morning"]</c> is the prompt <c>Translate to German: good morning</c>, the same
/// prompt <c>/api/completions</c> would get, and <c>[system: "Answer briefly.", user: "Where is Ganymede?"]</c> is
/// <c>Answer briefly.\n\nWhere is Ganymede?</c>.</item>
/// <item>Otherwise the conversation is a transcript, one <c>User: …</c> or <c>Assistant: …</c> line per message, ending
/// with <c>Assistant:</c> for the model to complete.</item>
/// </list>
/// The conversation must hold at least one user message and end with one (flan-T5 cannot continue an assistant's
/// message); any other role (e.g. <c>tool</c>) is refused.
/// </remarks>
public static class ChatTemplate
{
    /// <summary>Builds the prompt of <paramref name="turns"/>.</summary>
    /// <exception cref="ArgumentException">No user message, the last message is not the user's, or a role this template does
    /// not know; the message names the index of the offending message.</exception>
    public static string Format(IReadOnlyList<ChatTurn> turns)
    {
        ArgumentNullException.ThrowIfNull(turns);
        var instructions = new List<string>();
        var dialogue = new List<ChatTurn>();
        for (var i = 0; i < turns.Count; i++)
        {
            var turn = turns[i] ?? throw new ArgumentException($"messages[{i}] is null.", nameof(turns));
            switch (turn.Role)
            {
                case "system" or "developer":
                    instructions.Add(turn.Text);
                    break;
                case "user" or "assistant":
                    dialogue.Add(turn);
                    break;
                default:
                    throw new ArgumentException(
                        $"messages[{i}] has role '{turn.Role}'; flan-T5's chat template takes only system, developer, user and assistant messages.",
                        nameof(turns));
            }
        }
        if (dialogue.Count == 0 || dialogue[^1].Role != "user")
        {
            throw new ArgumentException(dialogue.Count == 0
                ? "messages holds no user message; a chat completion needs at least one."
                : $"messages[{turns.Count - 1}] is the assistant's; the last message must be the user's (flan-T5 cannot continue an assistant message).",
                nameof(turns));
        }

        var prompt = new StringBuilder();
        if (instructions.Count > 0)
            prompt.AppendJoin("\n\n", instructions).Append("\n\n");
        if (dialogue.Count == 1)
            return prompt.Append(dialogue[0].Text).ToString();
        foreach (var turn in dialogue)
            prompt.Append(turn.Role == "user" ? "User: " : "Assistant: ").Append(turn.Text).Append('\n');
        return prompt.Append("Assistant:").ToString();
    }
}
