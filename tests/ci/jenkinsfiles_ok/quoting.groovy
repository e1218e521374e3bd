pipeline {
  agent any
  stages {
    stage('q') {
      steps {
        sh 'it\'s \\ single'
        sh "double ${BUILD_NUMBER} and $JOB_NAME.x and \$HOME"
        sh """multi ${env.GIT_COMMIT}
line \\
next"""
        sh '''a \
b'''
        echo "tab\there"
      }
    }
  }
}
