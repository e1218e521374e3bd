// expect: Jenkinsfile:4:41: unsupported expression ${x + 1}
pipeline {
  agent any
  stages { stage('a') { steps { echo "n=${x + 1}" } } }
}
