// Role assignments, each scoped to the one resource it is for (never the resource group or subscription).
//
// The app's identity:
// - Storage Blob Data Owner on the storage account: Microsoft documents this role for an identity-based
//   AzureWebJobsStorage. The host creates and writes its own containers (azure-webjobs-hosts leases,
//   azure-webjobs-secrets keys), Flex reads the deployment package, and the app writes jobs/ and completions/
//   and reads models/. Storage Blob Data Contributor covers those data operations too, but it is not the
//   documented role for host storage; Owner adds only POSIX ACL management on hierarchical-namespace
//   accounts, which this account is not. Never (management-plane) Contributor: that could list the account keys.
// - Storage Queue Data Contributor on the storage account: the queue trigger reads, updates and deletes
//   messages, moves failures to prompt-jobs-poison (and may create it), and submission enqueues.
// - Monitoring Metrics Publisher on the Application Insights component: with local auth disabled it is the
//   only way telemetry is accepted.
// - Key Vault Secrets User on the app's Key Vault: reads the secrets its Key Vault references name (OpenAi__ApiKey),
//   nothing else (it cannot list, write or delete them, nor touch keys and certificates).
//
// The deploying user (optional, azd's principalId): Storage Blob Data Contributor on the models container
// only, so `serverless model upload` can write the model and nothing else; Storage Queue Data Message Sender
// on the prompt-jobs queue only, so `serverless jobs enqueue` can add messages (it cannot read, delete or
// create queues).

@description('Storage account name.')
param storageAccountName string

@description('Container the deploying user may upload the model to.')
param modelsContainerName string

@description('Queue the deploying user may send job messages to.')
param jobsQueueName string

@description('Application Insights component name.')
param applicationInsightsName string

@description('Name of the app\'s user-assigned identity (in this resource group).')
param appIdentityName string

@description('Name of the Key Vault holding the app\'s secrets.')
param keyVaultName string

@description('Object id of a user or service principal allowed to upload the model and enqueue jobs. Empty: no assignment.')
param uploaderPrincipalId string = ''

@description('Kind of principal uploaderPrincipalId is.')
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param uploaderPrincipalType string = 'User'

resource storage 'Microsoft.Storage/storageAccounts@2024-01-01' existing = {
  name: storageAccountName

  resource blobService 'blobServices' existing = {
    name: 'default'

    resource modelsContainer 'containers' existing = {
      name: modelsContainerName
    }
  }

  resource queueService 'queueServices' existing = {
    name: 'default'

    resource jobsQueue 'queues' existing = {
      name: jobsQueueName
    }
  }
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource appIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' existing = {
  name: appIdentityName
}

resource keyVault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource appKeyVaultSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(keyVault.id, appIdentity.id, '4633458b-17de-408a-b874-0445c86b69e6')
  scope: keyVault
  properties: {
    // Key Vault Secrets User
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '4633458b-17de-408a-b874-0445c86b69e6')
    principalId: appIdentity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource appBlobDataOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, appIdentity.id, 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b')
  scope: storage
  properties: {
    // Storage Blob Data Owner
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b')
    principalId: appIdentity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource appQueueDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, appIdentity.id, '974c5e8b-45b9-4653-ba55-5f855dd0fb88')
  scope: storage
  properties: {
    // Storage Queue Data Contributor
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '974c5e8b-45b9-4653-ba55-5f855dd0fb88')
    principalId: appIdentity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource appMetricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, appIdentity.id, '3913510d-42f4-4e42-8a64-420c390055eb')
  scope: applicationInsights
  properties: {
    // Monitoring Metrics Publisher
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '3913510d-42f4-4e42-8a64-420c390055eb')
    principalId: appIdentity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource uploaderBlobDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(uploaderPrincipalId)) {
  name: guid(storage::blobService::modelsContainer.id, uploaderPrincipalId, 'ba92f5b4-2d11-453d-a403-e96b0029c9fe')
  scope: storage::blobService::modelsContainer
  properties: {
    // Storage Blob Data Contributor
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'ba92f5b4-2d11-453d-a403-e96b0029c9fe')
    principalId: uploaderPrincipalId
    principalType: uploaderPrincipalType
  }
}

resource uploaderQueueMessageSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(uploaderPrincipalId)) {
  name: guid(storage::queueService::jobsQueue.id, uploaderPrincipalId, 'c6a89b2d-59bc-44d0-9896-0f6e12d7b80a')
  scope: storage::queueService::jobsQueue
  properties: {
    // Storage Queue Data Message Sender
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'c6a89b2d-59bc-44d0-9896-0f6e12d7b80a')
    principalId: uploaderPrincipalId
    principalType: uploaderPrincipalType
  }
}
