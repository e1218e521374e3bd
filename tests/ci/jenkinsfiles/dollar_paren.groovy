// expect: Jenkinsfile:6:22: illegal character after $ in a "..." string
pipeline {
  agent any
  stages {
    stage('a') {
      steps { sh "cd $(pwd)" }
    }
  }
}
