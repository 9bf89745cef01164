// A Flex Consumption (FC1) plan and the one Linux function app it hosts. Flex scales to zero and bills per
// execution second and memory size; the app package is pulled from a blob container with the app's identity.

@description('Function app name (also the plan name prefix).')
param name string

@description('App Service plan name.')
param planName string

@description('Azure region.')
param location string

@description('Tags for the plan.')
param tags object = {}

@description('Tags for the function app (azd finds the app by its azd-service-name tag).')
param appTags object = {}

@description('Resource id of the user-assigned identity the app runs as.')
param identityResourceId string

@description('Blob container URL holding the deployment package, e.g. https://<account>.blob.core.windows.net/<container>.')
param deploymentContainerUrl string

@description('Functions runtime stack.')
param runtimeName string

@description('Runtime version for the stack.')
param runtimeVersion string

@description('Memory per instance in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int

@description('Upper bound on instances the platform scales out to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int

@description('App settings (names to values). Must not contain FUNCTIONS_WORKER_RUNTIME or FUNCTIONS_EXTENSION_VERSION: Flex rejects them.')
param appSettings object

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true // Linux
  }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: appTags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityResourceId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Key Vault references (OpenAi__ApiKey) resolve with the user-assigned identity; the default would be a
    // system-assigned identity this app does not have.
    keyVaultReferenceIdentity: identityResourceId
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityResourceId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: runtimeName
        version: runtimeVersion
      }
    }
  }

  resource settings 'config' = {
    name: 'appsettings'
    properties: appSettings
  }
}

output name string = app.name
output defaultHostName string = app.properties.defaultHostName
