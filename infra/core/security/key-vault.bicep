// The app's secrets: a Key Vault authorised by Azure RBAC (no access policies) holding the key of the /v1 routes
// (OpenAi__ApiKey). The app reads it through a Key Vault reference with its user-assigned identity (Key Vault Secrets
// User on this vault only, app/rbac.bicep); the value is in no app setting, output or deployment history.

@description('Key Vault name (3 to 24 characters).')
param name string

@description('Azure region.')
param location string

@description('Tags for the vault.')
param tags object = {}

@secure()
@description('The key the /v1 routes accept (OpenAi__ApiKey), kept as the secret openai-api-key.')
param openAiApiKey string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
  }

  resource openAiKey 'secrets' = {
    name: 'openai-api-key'
    properties: {
      value: openAiApiKey
      contentType: 'text/plain'
    }
  }
}

output name string = vault.name
