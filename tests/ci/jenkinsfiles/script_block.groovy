// expect: Jenkinsfile:7:26: 'new' (creating Java/Groovy objects) is not in Dockyard's Groovy subset
pipeline {
  agent any
  stages {
    stage('a') {
      steps {
        script { def f = new File('/etc/passwd') }
      }
    }
  }
}
