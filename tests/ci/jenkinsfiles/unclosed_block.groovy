// expect: Jenkinsfile:8:1: expected '}' to close the block of stages opened at 4
pipeline {
  agent any
  stages {
    stage('a') {
      steps { sh 'true' }
    }
