// expect: Jenkinsfile:4:21: unknown step or function 'readFiles'
pipeline {
  agent any
  environment { X = readFiles('x') }
  stages { stage('a') { steps { echo 'x' } } }
}
