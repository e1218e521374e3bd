// expect: Jenkinsfile:4:21: only credentials('id') may be called in environment, found readFile(...)
pipeline {
  agent any
  environment { X = readFile('x') }
  stages { stage('a') { steps { echo 'x' } } }
}
