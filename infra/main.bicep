// Deploys the serverless prompt pipeline: a resource group holding a Flex Consumption function app, its
// storage account (model, jobs, completions, queues, deployment package), monitoring and one managed identity.
// `azd up` fills the parameters from main.parameters.json; `az deployment sub create` works the same way.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Environment name (azd: AZURE_ENV_NAME). Seeds every resource name and the azd-env-name tag.')
param environmentName string

@minLength(1)
@description('Region for every resource. It must offer the Flex Consumption plan (az functionapp list-flexconsumption-locations).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Resource group name. Empty: rg-<environmentName>.')
param resourceGroupName string = ''

@description('Object id of the deploying user (azd: AZURE_PRINCIPAL_ID). When set, it may upload the model to the models container. Empty: no access.')
param principalId string = ''

@description('Kind of principal principalId is (a CI pipeline deploying with a service principal passes ServicePrincipal).')
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param principalType string = 'User'

@description('Memory per instance in MB. The fp32 flan-t5-small encoder and decoder weights alone are ~360 MiB, before ONNX Runtime, the host and the worker: 512 is too tight.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Most instances Flex may scale out to; bounds the cost of a burst.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@secure()
@description('The key of the /v1 routes (OpenAi__ApiKey): kept in Key Vault, read by the app through a Key Vault reference. azd generates it on the first provision and keeps it in the environment (.azure/<env>/config.json); elsewhere pass one.')
@metadata({
  azd: {
    type: 'generate'
    config: {
      length: 40
      noSpecial: true
    }
  }
})
param openAiApiKey string

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}
var functionAppName = 'func-api-${resourceToken}'
// Names are computed here, not read from module outputs, so every resource id is known before deployment
// starts (what-if can predict the whole deployment); dependsOn carries the ordering instead.
var identityName = 'id-api-${resourceToken}'
var storageAccountName = 'st${resourceToken}'
var applicationInsightsName = 'appi-${resourceToken}'
var keyVaultName = 'kv-${resourceToken}'
// Versionless: the app reads the latest version, so a rotated key takes effect without a redeployment.
var openAiKeySecretUri = 'https://${keyVaultName}${environment().suffixes.keyvaultDns}/secrets/openai-api-key'
// Flex pulls the app package from here; one container per app (azd's naming).
var deploymentContainerName = 'app-package-${take(functionAppName, 32)}-${take(toLower(uniqueString(functionAppName, resourceToken)), 7)}'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'core/security/user-assigned-identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: identityName
    location: location
    tags: tags
  }
}

module storage 'core/storage/storage-account.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: storageAccountName
    location: location
    tags: tags
    // Names as in local.settings.sample.json (JobsContainer, CompletionsContainer, Model__Container).
    containerNames: [
      deploymentContainerName
      'models'
      'jobs'
      'completions'
      'batch-files'
      'batches'
    ]
    // PromptJobsQueue and the poison queue the host moves a message to after maxDequeueCount failures.
    queueNames: [
      'prompt-jobs'
      'prompt-jobs-poison'
      'batch-work'
      'batch-work-poison'
    ]
  }
}

module monitoring 'core/monitor/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: applicationInsightsName
    location: location
    tags: tags
  }
}

module keyVault 'core/security/key-vault.bicep' = {
  name: 'keyVault'
  scope: rg
  params: {
    name: keyVaultName
    location: location
    tags: tags
    openAiApiKey: openAiApiKey
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  dependsOn: [
    identity
    storage
    monitoring
    keyVault
  ]
  params: {
    storageAccountName: storageAccountName
    modelsContainerName: 'models'
    jobsQueueName: 'prompt-jobs'
    applicationInsightsName: applicationInsightsName
    appIdentityName: identityName
    keyVaultName: keyVaultName
    uploaderPrincipalId: principalId
    uploaderPrincipalType: principalType
  }
}

module api 'app/api.bicep' = {
  name: 'api'
  scope: rg
  // The host reads the deployment package and its storage with the identity as soon as it starts.
  dependsOn: [
    rbac
  ]
  params: {
    name: functionAppName
    planName: 'plan-${resourceToken}'
    location: location
    tags: tags
    serviceName: 'api'
    storageAccountName: storageAccountName
    deploymentContainerName: deploymentContainerName
    applicationInsightsName: applicationInsightsName
    identityName: identityName
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    // The settings the code reads, with the names and values of local.settings.sample.json. Not here:
    // FUNCTIONS_WORKER_RUNTIME (Flex takes the runtime from functionAppConfig and rejects the setting),
    // AzureWebJobsStorage (replaced by its identity-based AzureWebJobsStorage__* form in app/api.bicep),
    // Model__CacheDirectory (empty = under the instance's temp folder).
    appSettings: {
      PromptJobsQueue: 'prompt-jobs'
      JobsContainer: 'jobs'
      CompletionsContainer: 'completions'
      Jobs__MaxPromptsPerJob: '64'
      Jobs__MaxRequestBodyBytes: '262144'
      Jobs__BatchSize: '8'
      Jobs__DynamicBatching: 'true'
      Jobs__BatchWindowMs: '5'
      Jobs__RetryAfterSeconds: '2'
      Jobs__MaxInlineMessageBytes: '32768'
      Jobs__SubmitTokenizerWaitSeconds: '20'
      Jobs__ModelRetryAfterSeconds: '30'
      Jobs__CancelPollMilliseconds: '500'
      Jobs__ProgressIntervalMilliseconds: '1000'
      Completions__MaxPrompts: '4'
      Completions__MaxNewTokens: '256'
      Completions__MaxRequestBodyBytes: '65536'
      Completions__TimeBudgetSeconds: '120'
      Completions__MaxConcurrent: '64'
      Callbacks__MaxAttempts: '3'
      Callbacks__TimeoutSeconds: '5'
      Callbacks__RetryDelayMilliseconds: '1000'
      // Every /v1 route (OpenAI-compatible completions, Files, Batches) checks OpenAi__ApiKey itself: a Key Vault
      // reference, resolved by the platform with the app's identity (keyVaultReferenceIdentity), so the key itself is
      // never an app setting. Anonymous access is for Development only.
      OpenAi__ApiKey: '@Microsoft.KeyVault(SecretUri=${openAiKeySecretUri})'
      OpenAi__AllowAnonymous: 'false'
      // Prompts and completions stay out of spans and logs; 'true' puts them there (prompts may be private).
      Telemetry__IncludeText: 'false'
      Model__Connection: 'AzureWebJobsStorage'
      Model__Container: 'models'
      Model__Prefix: 'flan-t5-small/'
      Model__UseQuantized: 'false'
      Model__RefreshMinutes: '0'
      Inference__IntraOpThreads: '0'
      Inference__MaxNewTokensCeiling: '512'
      Inference__MaxBatchRows: '32'
      BatchQueue: 'batch-work'
      BatchFilesContainer: 'batch-files'
      BatchesContainer: 'batches'
      Batches__MaxFileBytes: '209715200'
      Batches__MaxLines: '50000'
      Batches__ChunkSize: '100'
      Batches__LineConcurrency: '4'
      Batches__DefaultMaxTokens: '64'
      Batches__CancelPollMilliseconds: '1000'
      Batches__CompletionWindow: '1.00:00:00'
    }
  }
}

// azd reads these into the environment (.azure/<env>/.env).
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output SERVICE_API_NAME string = api.outputs.name
output AZURE_FUNCTION_APP_NAME string = api.outputs.name
output SERVICE_API_URI string = 'https://${api.outputs.defaultHostName}/api'
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_STORAGE_BLOB_ENDPOINT string = storage.outputs.blobEndpoint
output AZURE_USER_ASSIGNED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
