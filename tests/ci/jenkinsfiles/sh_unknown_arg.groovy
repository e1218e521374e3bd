// expect: Jenkinsfile:4:33: step 'sh'
pipeline {
  agent any
  stages { stage('a') { steps { sh script: 'ls', returnStout: true } } }
}
