// expect: Jenkinsfile:4:14: cron: Invalid or unsupported timezone 'Europe/Atlantis'
pipeline {
  agent any
  triggers { cron('''TZ=Europe/Atlantis
H 2 * * *''') }
  stages { stage('a') { steps { echo 'x' } } }
}
