// expect: Jenkinsfile:3:11: agent 'docker' is not supported
pipeline {
  agent { docker { image 'alpine' } }
  stages { stage('a') { steps { echo 'x' } } }
}
