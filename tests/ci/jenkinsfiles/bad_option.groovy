// expect: Jenkinsfile:5:5: option 'retry' is not supported here
pipeline {
  agent any
  options {
    retry(3)
  }
  stages { stage('a') { steps { echo 'x' } } }
}
