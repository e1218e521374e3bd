// expect: Jenkinsfile:5:35: unknown escape \d in a Groovy string
pipeline {
  agent any
  stages {
    stage('a') { steps { sh 'grep \d x' } }
  }
}
