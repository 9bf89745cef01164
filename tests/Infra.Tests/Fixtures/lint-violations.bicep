// Deliberately breaks linter rules; tests/Infra.Tests checks that the repository's bicepconfig.json makes
// each one an error. Never deployed, never linted as part of infra/.
var unused = 'never read'

resource storage 'Microsoft.Storage/storageAccounts@2019-06-01' = {
  name: 'stlintviolations'
  location: 'westeurope'
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
}

output portal string = 'https://management.azure.com/'
output storageKey string = storage.listKeys().keys[0].value
