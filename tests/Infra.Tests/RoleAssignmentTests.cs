namespace Serverless.Infra.Tests;

/// <summary>The app's identity gets exactly four roles and the deploying user two, each scoped to the one resource it is for.</summary>
[Collection(CompiledTemplateCollection.Name)]
public sealed class RoleAssignmentTests(CompiledTemplate compiled)
{
    private const string StorageBlobDataOwner = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b";
    private const string StorageQueueDataContributor = "974c5e8b-45b9-4653-ba55-5f855dd0fb88";
    private const string MonitoringMetricsPublisher = "3913510d-42f4-4e42-8a64-420c390055eb";
    private const string StorageBlobDataContributor = "ba92f5b4-2d11-453d-a403-e96b0029c9fe";
    private const string StorageQueueDataMessageSender = "c6a89b2d-59bc-44d0-9896-0f6e12d7b80a";
    private const string KeyVaultSecretsUser = "4633458b-17de-408a-b874-0445c86b69e6";

    private sealed record Assignment(string Role, string Principal, string Scope, bool Conditional, ArmResource Resource);

    private IReadOnlyList<Assignment> Assignments() =>
        compiled.OfType("Microsoft.Authorization/roleAssignments").Select(r => new Assignment(
            TemplateAssert.Text(r.Properties?["roleDefinitionId"], "roleDefinitionId"),
            TemplateAssert.Text(r.Properties?["principalId"], "principalId"),
            r.Raw.ContainsKey("scope") ? TemplateAssert.Text(r.Evaluated("scope"), "scope") : "",
            r.IsConditional,
            r)).ToList();

    private string Identity => Unwrap(compiled.Single("Microsoft.ManagedIdentity/userAssignedIdentities").Name);

    [Theory]
    [InlineData(StorageBlobDataOwner, "Microsoft.Storage/storageAccounts")]
    [InlineData(StorageQueueDataContributor, "Microsoft.Storage/storageAccounts")]
    [InlineData(MonitoringMetricsPublisher, "Microsoft.Insights/components")]
    [InlineData(KeyVaultSecretsUser, "Microsoft.KeyVault/vaults")]
    public void App_identity_has_role_on_exactly_that_resource(string role, string scopeType)
    {
        var assignment = Assert.Single(Assignments(), a => a.Role.Contains(role, StringComparison.Ordinal));
        var target = compiled.Single(scopeType).Name;

        Assert.False(assignment.Conditional);
        Assert.Contains("roleDefinitions", assignment.Role, StringComparison.Ordinal);
        // principalId = the user-assigned identity's principalId.
        Assert.Contains("Microsoft.ManagedIdentity/userAssignedIdentities", assignment.Principal, StringComparison.Ordinal);
        Assert.Contains(Identity, assignment.Principal, StringComparison.Ordinal);
        Assert.EndsWith(".principalId]", assignment.Principal, StringComparison.Ordinal);
        // scope = resourceId(<type>, <that resource's name>), not the resource group or subscription.
        Assert.StartsWith($"[resourceId('{scopeType}', ", assignment.Scope, StringComparison.Ordinal);
        Assert.Contains(Unwrap(target), assignment.Scope, StringComparison.Ordinal);
    }

    [Fact]
    public void No_other_role_is_granted_and_none_at_resource_group_scope()
    {
        var assignments = Assignments();
        var allowed = new[] { StorageBlobDataOwner, StorageQueueDataContributor, MonitoringMetricsPublisher, KeyVaultSecretsUser, StorageBlobDataContributor, StorageQueueDataMessageSender };

        Assert.Equal(6, assignments.Count);
        Assert.All(allowed, role => Assert.Single(assignments, a => a.Role.Contains(role, StringComparison.Ordinal)));
        Assert.All(assignments, a => Assert.Contains(allowed, role => a.Role.Contains(role, StringComparison.Ordinal)));
        Assert.All(assignments, a => Assert.NotEqual("", a.Scope));
    }

    [Fact]
    public void Deploying_user_may_only_write_the_models_container_and_only_when_named()
    {
        var assignment = Assert.Single(Assignments(), a => a.Role.Contains(StorageBlobDataContributor, StringComparison.Ordinal));

        // Deployed only when main's principalId is given: by default (empty) the condition is false.
        Assert.True(assignment.Conditional);
        Assert.False(TemplateAssert.Literal<bool>(assignment.Resource.Evaluated("condition"), "condition"));
        Assert.Equal("[parameters('uploaderPrincipalId')]", assignment.Resource.Raw["properties"]?["principalId"]?.GetValue<string>());
        var rbac = Assert.Single(compiled.OfType("Microsoft.Resources/deployments"), d => d.Name == "rbac");
        Assert.Equal("[parameters('principalId')]", rbac.Raw["properties"]?["parameters"]?["uploaderPrincipalId"]?["value"]?.GetValue<string>());
        Assert.StartsWith("[resourceId('Microsoft.Storage/storageAccounts/blobServices/containers', ", assignment.Scope, StringComparison.Ordinal);
        Assert.EndsWith(", 'default', 'models')]", assignment.Scope, StringComparison.Ordinal);
    }

    [Fact]
    public void Deploying_user_may_only_send_to_the_jobs_queue_and_only_when_named()
    {
        var assignment = Assert.Single(Assignments(), a => a.Role.Contains(StorageQueueDataMessageSender, StringComparison.Ordinal));

        // Same condition and principal as the model upload role: main's principalId, empty by default.
        Assert.True(assignment.Conditional);
        Assert.False(TemplateAssert.Literal<bool>(assignment.Resource.Evaluated("condition"), "condition"));
        Assert.Equal("[parameters('uploaderPrincipalId')]", assignment.Resource.Raw["properties"]?["principalId"]?.GetValue<string>());
        Assert.Equal("[parameters('uploaderPrincipalType')]", assignment.Resource.Raw["properties"]?["principalType"]?.GetValue<string>());
        var rbac = Assert.Single(compiled.OfType("Microsoft.Resources/deployments"), d => d.Name == "rbac");
        Assert.Equal("prompt-jobs", rbac.Raw["properties"]?["parameters"]?["jobsQueueName"]?["value"]?.GetValue<string>());
        // Scoped to the queue the app triggers on, not the queue service, the account or the poison queue.
        Assert.StartsWith("[resourceId('Microsoft.Storage/storageAccounts/queueServices/queues', ", assignment.Scope, StringComparison.Ordinal);
        Assert.EndsWith(", 'default', 'prompt-jobs')]", assignment.Scope, StringComparison.Ordinal);
    }

    private static string Unwrap(string text) => ArmExpression.IsExpression(text) ? text[1..^1] : text;
}
