using Serverless.Inference.Chat;

namespace Serverless.Inference.Tests.Chat;

public class ChatTemplateTests
{
    [Fact]
    public void One_user_message_is_the_prompt_as_it_is() =>
        Assert.Equal("Translate to German: good morning", ChatTemplate.Format([new("user", "Translate to German: good morning")]));

    [Fact]
    public void System_and_developer_messages_come_first_separated_by_blank_lines() =>
        Assert.Equal("Answer briefly.\n\nIn English.\n\nWhere is Ganymede?",
            ChatTemplate.Format([new("system", "Answer briefly."), new("developer", "In English."), new("user", "Where is Ganymede?")]));

    [Fact]
    public void A_conversation_becomes_a_transcript_ending_with_the_assistant_cue() =>
        Assert.Equal("Be kind.\n\nUser: Hi\nAssistant: Hello!\nUser: Name a moon of Jupiter.\nAssistant:",
            ChatTemplate.Format([new("system", "Be kind."), new("user", "Hi"), new("assistant", "Hello!"), new("user", "Name a moon of Jupiter.")]));

    [Fact]
    public void Two_user_messages_in_a_row_are_a_transcript_too() =>
        Assert.Equal("User: a\nUser: b\nAssistant:", ChatTemplate.Format([new("user", "a"), new("user", "b")]));

    [Fact]
    public void A_conversation_without_a_user_message_is_refused() =>
        Assert.Contains("no user message", Assert.Throws<ArgumentException>(() => ChatTemplate.Format([new("system", "x")])).Message);

    [Fact]
    public void A_conversation_ending_with_the_assistant_is_refused_naming_the_message() =>
        Assert.Contains("messages[1]", Assert.Throws<ArgumentException>(() => ChatTemplate.Format([new("user", "a"), new("assistant", "b")])).Message);

    [Fact]
    public void An_unknown_role_is_refused_naming_the_message_and_role()
    {
        var error = Assert.Throws<ArgumentException>(() => ChatTemplate.Format([new("user", "a"), new("tool", "b"), new("user", "c")]));
        Assert.Contains("messages[1]", error.Message);
        Assert.Contains("'tool'", error.Message);
    }
}
