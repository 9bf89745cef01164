// The pipeline's function app ("api" to azd): its identity-based connections and the app settings the code reads.

@description('Function app name.')
param name string

@description('App Service plan name.')
param planName string

@description('Azure region.')
param location string

@description('Tags for every resource.')
param tags object = {}

@description('azd service name; azd deploys the project to the app carrying this tag.')
param serviceName string = 'api'

@description('Name of the storage account (AzureWebJobsStorage, deployment package, model, jobs).')
param storageAccountName string

@description('Container holding the Flex deployment package.')
param deploymentContainerName string

@description('Application Insights component name.')
param applicationInsightsName string

@description('Name of the user-assigned identity the app runs as (in this resource group).')
param identityName string

@description('Memory per instance in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int

@description('Upper bound on instances.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int

@description('The application\'s own settings (names as in local.settings.sample.json).')
param appSettings object

resource storage 'Microsoft.Storage/storageAccounts@2024-01-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' existing = {
  name: identityName
}

// The Functions host and the SDK credentials pick the identity by its client id.
var identityClientId = identity.properties.clientId

// Identity-based AzureWebJobsStorage: the host, the queue trigger and (through Model__Connection) the model
// store all read these. No __tableServiceUri: nothing here uses tables (no Durable Functions, no timers
// with table checkpoints), so the identity gets no table role and the host needs no table endpoint.
var storageSettings = {
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  AzureWebJobsStorage__blobServiceUri: storage.properties.primaryEndpoints.blob
  AzureWebJobsStorage__queueServiceUri: storage.properties.primaryEndpoints.queue
}

// The connection string carries only the ingestion endpoint and the component id; with local auth disabled
// ingestion also needs an Entra token, which the host gets for the identity named here.
var monitoringSettings = {
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
}

module host '../core/host/functions-flexconsumption.bicep' = {
  name: 'functionapp'
  params: {
    name: name
    planName: planName
    location: location
    tags: tags
    appTags: union(tags, { 'azd-service-name': serviceName })
    identityResourceId: identity.id
    deploymentContainerUrl: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
    runtimeName: 'dotnet-isolated'
    runtimeVersion: '10.0'
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    appSettings: union(appSettings, storageSettings, monitoringSettings)
  }
}

output name string = host.outputs.name
output defaultHostName string = host.outputs.defaultHostName
