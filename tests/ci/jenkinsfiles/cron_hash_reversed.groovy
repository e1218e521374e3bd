// expect: Jenkinsfile:5:5: pollSCM: Invalid input: "H(50-10) * * * *": line 1:0: H(50-10) is reversed: you mean H(10-50)?
pipeline {
  agent any
  triggers {
    pollSCM('H(50-10) * * * *')
  }
  stages { stage('a') { steps { echo 'x' } } }
}
