// expect: Jenkinsfile:2:1: 'node' is scripted-pipeline Groovy; Dockyard runs declarative pipelines only
node {
  sh 'make'
}
