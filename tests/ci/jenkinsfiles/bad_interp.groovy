// expect: Jenkinsfile:4:43: step sh(...) cannot run here
pipeline {
  agent any
  stages { stage('a') { steps { echo "n=${sh(script: 'id', returnStdout: true)}" } } }
}
